"""nginx's static cache must not hand one host's answer to another host.

Found in the review of issues #9-#11: the static cache key left the Host out (the files
are the same for every store), but it also cached 301s and 404s, and those are not the
same for every host. Django's SecurityMiddleware (SECURE_SSL_REDIRECT, on in production)
answers a plain-http `/static/…` request with `301 https://<that request's Host>/static/…`
before WhiteNoise runs; a store's 404 page is its own. Mallory asked once for
`http://mallory-domain.example/static/css/app.css`, and for an hour every store's
visitor asking for the same file over http (every visitor, behind a TLS-terminating load
balancer, where nginx's $scheme is always http) was sent to Mallory's server for it.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from .test_deploy_files import TEST_DOMAIN, _get, nginx_serving

MALLORY = "mallory-domain.example"


class _DjangoLikeUpstream(BaseHTTPRequestHandler):
    """Answers as Django does for a request that reached it over plain http: a redirect
    to https on the request's own Host (SECURE_SSL_REDIRECT), and for /static/missing.css
    a 404 page naming the store of that Host."""

    def do_GET(self):
        host = self.headers["Host"]
        if self.path == "/static/missing.css":
            body = f"<h1>Not found at {host}</h1>".encode()
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(301)
        self.send_header("Location", f"https://{host}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_one_hosts_static_redirect_or_404_never_reaches_another_host(tmp_path):
    with nginx_serving(tmp_path, _DjangoLikeUpstream) as port:
        # Mallory asks first, on her own domain (the custom-domain server block)...
        status, headers, _ = _get(port, "/static/css/app.css", MALLORY)
        assert status == 301
        assert {k.lower(): v for k, v in headers}["location"].startswith(f"https://{MALLORY}/")
        _get(port, "/static/missing.css", MALLORY)
        # ...then Alice's visitors and the main domain's ask for the same files.
        for host in (f"alice.{TEST_DOMAIN}", TEST_DOMAIN, "shop.alice-guides.test"):
            status, headers, body = _get(port, "/static/css/app.css", host)
            location = {k.lower(): v for k, v in headers}.get("location", "")
            assert status == 301 and location == f"https://{host}/static/css/app.css", (
                host,
                location,
            )
            status, _, body = _get(port, "/static/missing.css", host)
            assert status == 404 and MALLORY.encode() not in body, (host, body)
