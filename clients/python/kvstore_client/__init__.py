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
        """``{"node_id", "mode", "role"}``; in raft mode also ``term``, ``leader_id``,
        ``leader_url``, ``url``, ``members`` (``[{"node_id", "url", "voter"}, ...]``) and the log
        positions. ``role`` is ``removed`` on a node removed from its cluster."""
        return self._request("GET", "/cluster/status")

    # -- cluster membership (raft mode; docs/operations.md) -------------------------------------

    def cluster_join(self, node_id=None, address=None, *, via=None, peers=None):
        """Cluster membership through ``POST /cluster/join``, in one of three forms:

        - ``cluster_join(via="http://host:port")`` on a fresh node: it asks that member of a
          cluster to admit it (added as a learner, caught up, promoted to voter);
        - ``cluster_join("node2", "host:port")`` on a member (the seed's form): adds that node;
        - ``cluster_join(peers=[("node2", "http://host:port"), ...])`` on a member: adds each.

        Returns ``{"ok": True, "members": [...]}``. Raises KVStoreError: 409 in standalone mode
        or when the node id is already a member under another URL, 503 when a peer or ``via``
        cannot be reached."""
        forms = [via is not None, peers is not None, node_id is not None or address is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of: via, peers, or node_id with address")
        if via is not None:
            body = {"via": via}
        elif peers is not None:
            body = {"peers": [{"node_id": n, "url": u} for n, u in peers]}
        else:
            if node_id is None or address is None:
                raise ValueError("node_id and address go together")
            body = {"node_id": node_id, "address": address}
        return self._request("POST", "/cluster/join", json=body)

    def cluster_leave(self, node_id=None):
        """Removes ``node_id`` from the cluster (default: the node this client talks to).

        Sent to this node, which forwards it to the primary. Returns ``{"ok", "removed",
        "notified", "members"}``. Raises KVStoreError: 404 for an unknown id; 409 for the
        primary (move leadership first: :meth:`become_primary` on another node), the last
        voter, a removal that would leave no reachable quorum, or while another membership
        change runs."""
        if node_id is None:
            node_id = self.cluster_status()["node_id"]
        return self._request("DELETE", self._key_path("cluster/members", node_id))

    def become_primary(self):
        """Moves leadership to this node: ``{"ok", "role": "primary", "node_id", "took_ms"}``.
        Raises KVStoreError 409 in standalone mode or on a learner, 503 when it did not win."""
        return self._request("POST", "/become_primary")

    def stats(self):
        """Engine statistics."""
        return self._request("GET", "/admin/stats")
