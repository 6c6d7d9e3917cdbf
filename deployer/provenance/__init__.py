"""Provenance: where every byte of an image came from (recipe, bases, bill of materials),
read from the image's own labels, and the reproducibility check.

Entry: `deployer.provenance.inspect.inspect`.
"""
