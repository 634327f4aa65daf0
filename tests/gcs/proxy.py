"""A TLS-terminating CONNECT proxy that lets TensorFlow's own GCS filesystem talk to a local
emulator. TF's client has its endpoints (www.googleapis.com, storage.googleapis.com) built in and
no emulator setting, but its libcurl honours HTTPS_PROXY and CURL_CA_BUNDLE: each CONNECT is
answered, TLS is terminated with the test certificate beside this file, and the plain HTTP is
piped to the emulator. TF sends `Transfer-Encoding: identity` on empty POSTs, which the
emulator refuses (501): the header is dropped on the way.

Runs as its own process (python -m tests.gcs.proxy EMULATOR_PORT; prints its port): TF holds
the GIL in its C++ GCS calls, so a proxy thread in the same process would deadlock."""
import os
import re
import signal
import socket
import ssl
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
CERT, KEY = os.path.join(HERE, 'proxy_cert.pem'), os.path.join(HERE, 'proxy_key.pem')
_IDENTITY = re.compile(rb'\r\nTransfer-Encoding:\s*identity\r\n', re.I)


def _pipe(src, dst, drop_identity=False):
  try:
    while data := src.recv(65536):
      dst.sendall(_IDENTITY.sub(b'\r\n', data) if drop_identity else data)
  except OSError:
    pass
  finally:
    for s in (src, dst):
      try:
        s.shutdown(socket.SHUT_RDWR)
      except OSError:
        pass


def _handle(client, target, tls):
  try:
    head = b''
    while b'\r\n\r\n' not in head:
      data = client.recv(4096)
      if not data:
        client.close()
        return
      head += data
    upstream = socket.create_connection(target)
    if head.startswith(b'CONNECT '):
      client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
      client = tls.wrap_socket(client, server_side=True)
    else:  # plain-HTTP proxying (the emulator's http:// upload URLs): forward as it came
      upstream.sendall(_IDENTITY.sub(b'\r\n', head))
  except (OSError, ssl.SSLError):
    client.close()
    return
  threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
  _pipe(client, upstream, drop_identity=True)


def serve(emulator_port: int) -> None:
  tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
  tls.load_cert_chain(CERT, KEY)
  tls.set_alpn_protocols(['http/1.1'])
  server = socket.socket()
  server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  server.bind(('127.0.0.1', 0))
  server.listen(64)
  print(server.getsockname()[1], flush=True)
  target = ('127.0.0.1', emulator_port)
  while True:
    client, _ = server.accept()
    threading.Thread(target=_handle, args=(client, target, tls), daemon=True).start()


if __name__ == '__main__':
  import ctypes  # pylint: disable=g-import-not-at-top
  ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: dies with the test
  serve(int(sys.argv[1]))
