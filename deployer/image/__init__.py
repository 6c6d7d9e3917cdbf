"""Stage 1, build: from a site folder to its images (builder, nginx runtime, final site image).

Entry: `deployer.image.images.build_site`.
"""
