#!/usr/bin/env python3
# Usage: python3 bench/text-food.py [http://127.0.0.1:5391] against a running ApiHost (Development, loopback).
"""Text and image+text retrieval on the food dataset: iconic products (photo + description) as the catalog, val
photos as queries. Loopback only."""
import csv, json, os, sys, uuid, urllib.request, glob
API = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5391"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets", "food")
CAT = API + "/v1/catalogs/food-text"

def call(method, url, body=None, ctype="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": ctype} if data else {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def multipart(image, field, value):
    b = uuid.uuid4().hex
    parts = [f"--{b}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n"]
    parts.append(f"--{b}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n".encode())
    return b"".join(parts) + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"

call("DELETE", CAT)
s, r = call("PUT", CAT, {"encoder": {"model": "mobilenetv2-12-int8.onnx", "output": "464_quantized"},
                         "metric": "cosine", "index": {"kind": "exact"}})
assert s == 201, r
rows = list(csv.DictReader(open(f"{ROOT}/labels.csv")))
coarse = {r["label"]: r["coarse_label"] for r in rows}
for d in sorted(glob.glob(f"{ROOT}/iconic-images-and-descriptions/*/*/*")) + \
         sorted(glob.glob(f"{ROOT}/iconic-images-and-descriptions/*/*")):
    label = os.path.basename(d)
    if label not in coarse: continue
    imgs, descs = glob.glob(f"{d}/*_Iconic.jpg"), glob.glob(f"{d}/*_Description.txt")
    if not imgs or not descs: continue
    dp = {"attributes": {"description": open(descs[0]).read().strip()},
          "restricts": [{"namespace": "label", "allowList": [label]}]}
    body, ctype = multipart(open(imgs[0], "rb").read(), "datapoint", json.dumps(dp))
    s, r = call("PUT", f"{CAT}/products/{label}", body, ctype)
    assert s == 200, (label, s, r)
s, info = call("GET", CAT)
print("products", info["products"])
vals = [r for r in rows if r["split"] == "val"]
modes = {"image": 0, "name text": 0, "coarse text": 0}
for a in (0.2, 0.5, 0.8):
    modes[f"image + name text, alpha {a}"] = 0
    modes[f"image + coarse text, alpha {a}"] = 0
for q in vals:
    label, img = q["label"], open(f"{ROOT}/{q['path']}", "rb").read()
    name = label.replace("-", " ")
    def top(body_json, with_image=True):
        if with_image:
            body, ctype = multipart(img, "query", json.dumps(body_json))
            s, r = call("POST", CAT + "/search", body, ctype)
        else:
            s, r = call("POST", CAT + "/search", body_json)
        assert s == 200, r
        return r["neighbors"][0]["id"] if r["neighbors"] else None
    modes["image"] += top({"neighborCount": 1}) == label
    modes["name text"] += top({"text": name, "neighborCount": 1}, with_image=False) == label
    modes["coarse text"] += top({"text": coarse[label], "neighborCount": 1}, with_image=False) == label
    for a in (0.2, 0.5, 0.8):
        modes[f"image + name text, alpha {a}"] += top({"text": name, "neighborCount": 1, "rrf": {"alpha": a}}) == label
        modes[f"image + coarse text, alpha {a}"] += top({"text": coarse[label], "neighborCount": 1,
                                                         "rrf": {"alpha": a}}) == label
for m, n in modes.items():
    print(f"{m}: top-1 {n}/{len(vals)} = {n/len(vals):.3f}")
