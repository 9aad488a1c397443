"""Identity encoders: a descriptor per face whose distances separate people."""

from twoface.identity.base import Encoder
from twoface.identity.dlib128 import SAME_PERSON_DISTANCE, Dlib128Encoder, identity_distance

__all__ = ["SAME_PERSON_DISTANCE", "Dlib128Encoder", "Encoder", "identity_distance"]
