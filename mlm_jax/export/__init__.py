"""Hugging Face interoperability: name maps (data), weight conversion, export and import."""
