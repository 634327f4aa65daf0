"""TensorFlow's native start-up lines (oneDNN, CUDA stubs, CPU features, absl's pre-init
warning) are written by C++ straight to file descriptor 2 while it is imported, whatever
TF_CPP_MIN_LOG_LEVEL says, so a one-line error would arrive under five lines of noise.
Importing it here with descriptor 2 pointed at /dev/null keeps them out; Python exceptions
(a broken install) still propagate."""
import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def import_tensorflow() -> None:
  if 'tensorflow' in sys.modules:
    return
  with native_stderr_silenced():
    try:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
    except ImportError:
      return  # reported where it is needed, with the extra to install
    # The input pipeline runs on the host: TF must neither take GPU memory JAX needs nor probe
    # CUDA (its failed cuInit on CPU machines is one more line of noise).
    tf.config.set_visible_devices([], 'GPU')
