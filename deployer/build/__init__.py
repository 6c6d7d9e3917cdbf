"""Stage 1, build: from a site folder to its images (builder, nginx runtime, final site image).

Entry: `deployer.build.images.build_site`.
"""
