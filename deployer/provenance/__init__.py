"""Provenance: where every byte of an image came from (recipe, bases, bill of materials),
written into the image's labels as it is built and read back from them; and the verdict
of a rebuild (`commands/inspect.py` runs it).

Entries: `deployer.provenance.inspect.inspect_image`, `deployer.provenance.sbom`.
"""
