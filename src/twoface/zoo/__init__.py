"""Model files: the catalogue of published weights, and the store that fetches and checks them."""

from twoface.zoo.catalogue import CATALOGUE, ModelEntry, Preprocess
from twoface.zoo.store import ModelStore, default_home, sha256_of

__all__ = ["CATALOGUE", "ModelEntry", "ModelStore", "Preprocess", "default_home", "sha256_of"]
