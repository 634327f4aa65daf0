"""mlm_jax: JAX/Flax pre-training of masked language models."""
import os

# TensorFlow (seqio's reader, imported by several dependencies) logs at INFO from C++ otherwise.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
