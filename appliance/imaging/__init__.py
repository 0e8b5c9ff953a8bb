"""Imaging: build signed images, fetch them (local or HTTP), write them fast and prove every
byte (see manifest.py for the format)."""

from appliance.imaging.build import BuildError, BuildResult, build_image
from appliance.imaging.manifest import Manifest, ManifestError
from appliance.imaging.writer import HashResult, ImageResult, hash_device, write_image

__all__ = ["BuildError", "BuildResult", "build_image", "Manifest", "ManifestError",
           "HashResult", "ImageResult", "hash_device", "write_image"]
