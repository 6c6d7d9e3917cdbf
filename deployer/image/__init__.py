"""Stage 1, image: from a site folder to its images (builder, nginx runtime, final site image).

Entry: `deployer.image.images.build_site`.
"""
