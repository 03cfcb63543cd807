"""Preload bench%08d keys (100-byte values) over one keep-alive connection: kvstore/map or etcd."""
import base64, http.client, json, sys
host, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
keys = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
c = http.client.HTTPConnection(host, port)
for i in range(keys):
    k, v = "bench%08d" % i, ("value %d " % i).ljust(100, "x")
    if target == "etcd":
        path, body = "/v3/kv/put", {"key": base64.b64encode(k.encode()).decode(), "value": base64.b64encode(v.encode()).decode()}
    else:
        path, body = "/set", {"key": k, "value": v}
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, (r.status, k)
