"""Python client for the KVStore HTTP API.

    from kvstore_client import KVStoreClient
    c = KVStoreClient(host="localhost", port=5000)
    c.set("greeting", "hello")
    c.get("greeting")        # -> "hello"; None when absent

Every error answer of the server raises :class:`KVStoreError`, carrying the HTTP ``status`` and
the server's ``message`` (the ``"error"`` field of its JSON body). Connection failures raise
``requests`` exceptions unchanged.

A node started with ``--auth-token-file`` needs a bearer token (docs/security.md):

    c = KVStoreClient(host="localhost", port=5000, token=open("/etc/kvstore/token").read())

A missing or wrong token raises ``KVStoreError`` with status 401; the read-only token
(``--read-token-file``) raises it with status 403 on writes and admin calls.
"""

from urllib.parse import quote

import requests

__all__ = ["KVStoreClient", "KVStoreError"]


class KVStoreError(Exception):
    """The server answered with an error status."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class KVStoreClient:
    """A client for one KVStore node. Keeps one HTTP session (connection reuse).

    ``token``: sent as ``Authorization: Bearer <token>`` with every request when given
    (surrounding whitespace, such as a token file's newline, is removed). It is kept only in
    the session's headers, not as an attribute, and never appears in ``repr`` or errors.
    """

    def __init__(self, host="localhost", port=5000, timeout=30.0, token=None):
        self.base_url = f"http://{host}:{port}"
        self.timeout = timeout
        self._session = requests.Session()
        if token is not None:
            token = token.strip()
            # The server's rule: visible ASCII, no spaces. Refused here rather than sent and
            # answered 401; the message does not repeat the token.
            if not token or not all("!" <= ch <= "~" for ch in token):
                raise ValueError("token must be non-empty visible ASCII without spaces")
            self._session.headers["Authorization"] = f"Bearer {token}"

    def close(self):
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _request(self, method, path, **kwargs):
        resp = self._session.request(
            method, self.base_url + path, timeout=self.timeout, **kwargs
        )
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text
            raise KVStoreError(resp.status_code, message)
        return resp.json()

    @staticmethod
    def _key_path(route, key):
        # Percent-encode everything but unreserved characters; the server decodes the path.
        return f"/{route}/{quote(key, safe='')}"

    # -- keys and values ------------------------------------------------------------------------

    def get(self, key):
        """The value under ``key``, or None when absent."""
        try:
            return self._request("GET", self._key_path("get", key))["value"]
        except KVStoreError as e:
            if e.status == 404:
                return None
            raise

    def set(self, key, value, debug_fail=False, vector=None):
        """Stores ``value`` under ``key``; returns True once the write is durable."""
        body = {"key": key, "value": value}
        if debug_fail:
            body["debug_fail"] = True
        if vector is not None:
            body["vector"] = list(vector)
        return self._request("POST", "/set", json=body).get("ok", False)

    def delete(self, key, debug_fail=False):
        """Deletes ``key``; returns True if it existed, False if it was absent."""
        params = {"debug_fail": "true"} if debug_fail else None
        try:
            self._request("DELETE", self._key_path("delete", key), params=params)
            return True
        except KVStoreError as e:
            if e.status == 404:
                return False
            raise

    def bulk_set(self, items, debug_fail=False):
        """Stores a list of (key, value) pairs in one atomic batch: all or nothing.

        Returns the number of pairs written."""
        body = {"items": [[k, v] for k, v in items]}
        if debug_fail:
            body["debug_fail"] = True
        return self._request("POST", "/bulk_set", json=body).get("count", 0)

    def scan(self, start=None, end=None, prefix=None, limit=None):
        """One page of keys and values in key order: ``{"items": [...], "next": key or None}``."""
        params = {
            k: v
            for k, v in (("start", start), ("end", end), ("prefix", prefix), ("limit", limit))
            if v is not None
        }
        return self._request("GET", "/scan", params=params)

    # -- search ---------------------------------------------------------------------------------

    def search(self, q, k=10):
        """Full-text search: a list of ``{"key", "score"}``, best first."""
        return self._request("GET", "/search", params={"q": q, "k": k})["results"]

    def semantic_search(self, q, k=10):
        """Semantic search by text, or by a vector when ``q`` is a list of numbers."""
        if isinstance(q, (list, tuple)):
            body = {"vector": list(q), "k": k}
            return self._request("POST", "/semantic_search", json=body)["results"]
        return self._request("GET", "/semantic_search", params={"q": q, "k": k})["results"]

    # -- operations -----------------------------------------------------------------------------

    def health(self):
        """``{"status": "ok", "node_id", ...}``; raises KVStoreError(503) when unhealthy."""
        return self._request("GET", "/health")

    def cluster_status(self):
        """``{"node_id", "mode", "role"}``."""
        return self._request("GET", "/cluster/status")

    def stats(self):
        """Engine statistics."""
        return self._request("GET", "/admin/stats")
