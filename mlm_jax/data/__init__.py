"""Input pipeline: the only package that uses seqio's task registry and tf.data."""
