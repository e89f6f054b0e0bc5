"""Admin API for profiles: off without V0_ADMIN_KEY, upload (JSONL, CSV; append, replace), list,
download, delete rows and profiles; bad uploads are refused whole (4xx naming the line) and
leave the database unchanged; a 256-row upload is routable as soon as the call returns."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest

from profiles_support import (ADMIN_KEY, admin, arithmetic, policies_yaml, route, snapshot, start_v0_gateway,
                              translation, upload)


@pytest.fixture
def knn(v0):
    return v0.with_head("knn")


def test_admin_api_is_off_without_key_and_needs_the_key(knn, feature_cache, fresh_database, serve_app,
                                                       tmp_path, upstream):
    off = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                           v0=knn, features=feature_cache, admin_key="", name="off.yaml")
    for method, path in [("GET", "/admin/profiles"), ("POST", "/admin/profiles/cheap"), ("GET", "/admin/keys"),
                         ("POST", "/admin/keys"), ("DELETE", "/admin/keys/1")]:
        r = admin(off, method, path, json={"name": "x"})
        assert r.status_code == 404, (method, path)
        assert r.json() == {"error": {"message": "Not found: the admin API is off (set V0_ADMIN_KEY).",
                                      "type": "not_found_error", "param": None, "code": "admin_disabled"}}
    on = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                          v0=knn, features=feature_cache, name="on.yaml")
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY}):
        r = httpx.get(on.base_url + "/admin/profiles", headers=auth)
        assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_admin_key")
    assert admin(on, "GET", "/admin/profiles").json() == []


def test_upload_list_download_delete(knn, feature_cache, fresh_database, serve_app, tmp_path, upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url, profile_size=3),
                              v0=knn, features=feature_cache)
    rows = [(arithmetic(i), 0.25 * i) for i in range(4)]
    r = upload(served, "cheap", rows)
    assert (r.status_code, r.json()) == (201, {"model": "cheap", "mode": "append", "rows": 4, "version": 1})
    # CSV, appended: quoted prompt with a comma and a newline.
    text = 'prompt,score\n"Hello, world\nagain",1\n'
    r = admin(served, "POST", "/admin/profiles/cheap", content=text, headers={"Content-Type": "text/csv"})
    assert r.json() == {"model": "cheap", "mode": "append", "rows": 1, "version": 2}

    [summary] = admin(served, "GET", "/admin/profiles").json()
    assert {k: summary[k] for k in ("model", "rows", "active_rows", "version", "uploads", "feedback")} == \
        {"model": "cheap", "rows": 5, "active_rows": 3, "version": 2, "uploads": 5, "feedback": 0}
    assert summary["mean_score"] == pytest.approx((0.5 + 0.75 + 1.0) / 3)  # the 3 most recent rows
    assert summary["last_update"] is not None

    down = admin(served, "GET", "/admin/profiles/cheap")
    assert down.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(x) for x in down.text.splitlines()]
    assert [(x["prompt"], x["score"], x["source"]) for x in lines] == \
        [(p, s, "upload") for p, s in rows] + [("Hello, world\nagain", 1.0, "upload")]
    as_csv = list(csv.DictReader(io.StringIO(admin(served, "GET", "/admin/profiles/cheap?format=csv").text)))
    assert [(x["prompt"], float(x["score"])) for x in as_csv] == [(x["prompt"], x["score"]) for x in lines]

    # A downloaded profile uploads again as it is (replace): same prompts and scores.
    r = admin(served, "POST", "/admin/profiles/cheap?mode=replace", content=down.content)
    assert r.json() == {"model": "cheap", "mode": "replace", "rows": 5, "version": 3}
    again = [json.loads(x) for x in admin(served, "GET", "/admin/profiles/cheap").text.splitlines()]
    assert [(x["prompt"], x["score"]) for x in again] == [(x["prompt"], x["score"]) for x in lines]

    ids = [x["id"] for x in again]
    r = admin(served, "POST", "/admin/profiles/cheap/delete", json={"ids": ids[:2]})
    assert r.json() == {"model": "cheap", "mode": "delete", "rows": 2, "version": 4}
    r = admin(served, "POST", "/admin/profiles/cheap/delete", json={"ids": [ids[2], 999_999]})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "profile_row_not_found")
    assert len(admin(served, "GET", "/admin/profiles/cheap").text.splitlines()) == 3  # nothing deleted

    assert route(served, "What is 2 + 2?")["candidates"][0]["profile_version"] == 4
    r = admin(served, "DELETE", "/admin/profiles/cheap")
    assert r.json() == {"model": "cheap", "mode": "delete", "rows": 3, "version": 5}
    assert admin(served, "GET", "/admin/profiles/cheap").status_code == 404
    assert admin(served, "DELETE", "/admin/profiles/cheap").status_code == 404
    # No profile: P = 0, so the cheap model is not chosen; the version is still reported.
    decision = route(served, "What is 2 + 2?")
    assert decision["candidates"][0]["p_success"] == 0.0 and decision["chosen"] == "strong"


BAD_UPLOADS = [
    # (model, content type, body, status, code, message)
    ("cheap", "application/jsonl", b'{"prompt": "a", "score": 0.5}\n{"prompt": "b", "score": 1.5}\n',
     400, "invalid_profile", "line 2: score: Input should be less than or equal to 1"),
    ("cheap", "application/jsonl", b'{"prompt": "a", "score": 0.5}\n\n{"prompt": "  ", "score": 1}\n',
     400, "invalid_profile", "line 3: prompt: is empty"),
    ("cheap", "application/jsonl", b'{"prompt": "a", "score": 0.5}\n{"prompt": "b", "score": \n',
     400, "invalid_profile", "line 2: malformed JSON: Expecting value (column 26)"),
    ("cheap", "application/jsonl", b'{"prompt": "a", "score": "high"}\n',
     400, "invalid_profile", "line 1: score: Input should be a valid number"),
    ("cheap", "application/jsonl", b'{"prompt": "a"}\n', 400, "invalid_profile", "line 1: score: Field required"),
    ("cheap", "application/jsonl", b'["a", 1]\n', 400, "invalid_profile",
     "line 1: expected an object with prompt and score"),
    ("cheap", "text/csv", b"prompt,score\nfine,1\nbad,-0.1\n", 400, "invalid_profile",
     "line 3: score: Input should be greater than or equal to 0"),
    ("cheap", "text/csv", b"prompt,score\nfine,1\nbad,abc\n", 400, "invalid_profile",
     "line 3: score: 'abc' is not a number"),
    ("cheap", "text/csv", b"prompt,score\nfine,1,extra\n", 400, "invalid_profile",
     "line 2: expected 2 fields, got 3"),
    ("cheap", "text/csv", b"text,score\nfine,1\n", 400, "invalid_profile",
     "line 1: the CSV header has no 'prompt' column"),
    ("cheap", "application/jsonl", b"\n\n", 400, "invalid_profile", "the file has no rows"),
    ("cheap", "application/jsonl", b'{"prompt": "caf\xe9", "score": 1}\n', 400, "invalid_profile",
     "line 1: not valid UTF-8"),
    ("nope", "application/jsonl", b'{"prompt": "a", "score": 1}\n', 404, "model_not_found",
     "Unknown model 'nope': not a candidate in the policies."),
    ("cheap", "application/jsonl", b'{"prompt": "a", "score": 1}\n' * 6, 413, "profile_too_large",
     "line 6: more than 5 rows"),
    ("cheap", "application/jsonl", b'{"prompt": "' + b"x" * 3000 + b'", "score": 1}\n', 413,
     "request_too_large", "Request body exceeds 2048 bytes."),
]


def test_bad_uploads_are_refused_and_change_nothing(knn, feature_cache, fresh_database, serve_app, tmp_path,
                                                     upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=knn, features=feature_cache, max_upload_bytes=2048, max_upload_rows=5)
    assert upload(served, "cheap", [("Translate 'hello' into French.", 1.0)]).status_code == 201
    before = snapshot(fresh_database)
    for model, ctype, body, status, code, message in BAD_UPLOADS:
        for mode in ("append", "replace"):
            r = admin(served, "POST", f"/admin/profiles/{model}?mode={mode}", content=body,
                      headers={"Content-Type": ctype})
            assert r.status_code == status, (body, r.text)
            assert (r.json()["error"]["code"], r.json()["error"]["message"]) == (code, message)
    r = admin(served, "POST", "/admin/profiles/cheap?mode=merge", content=b'{"prompt": "a", "score": 1}\n')
    assert (r.status_code, r.json()["error"]["param"]) == (400, "query.mode")
    assert snapshot(fresh_database) == before


def test_256_row_upload_is_routable_when_the_call_returns(knn, feature_cache, fresh_database, serve_app,
                                                           tmp_path, upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database,
                              policies_yaml(upstream.base_url, profile_size=256), v0=knn, features=feature_cache)
    assert upload(served, "strong", [(translation(i), 1.0) for i in range(8)]).status_code == 201
    rows = [(f"Case {i}: {arithmetic(i)}" if i % 2 else f"Case {i}: {translation(i)}", float(i % 2 == 0))
            for i in range(256)]
    started = time.perf_counter()
    r = upload(served, "cheap", rows)
    returned = time.perf_counter()
    decision = route(served, "Case 999: Translate 'hello' into German.")
    routable = time.perf_counter()
    assert r.status_code == 201 and r.json()["version"] == 1
    assert decision["candidates"][0]["profile_version"] == 1  # the very next route uses the upload
    print(f"\n256-row upload: call {returned - started:.3f} s, then routable after "
          f"{routable - returned:.3f} s (one /v1/route)")
