"""Admins, sessions, users, per-database security and CORS: http-api.md §2 (auth, access rules,
CORS), §1.3 (the error strings) and §4.8 (_security)."""

import base64
import json
import os
import re
import shutil
import tempfile
import unittest

from divan_harness import NodeTestCase, db_path, doc_path, quote

ADMIN, ADMIN_PW = "admin", "s3cret:with:colons"
NOT_SERVER_ADMIN = "You are not a server admin."
NOT_AUTHORIZED = "You are not authorized to access this db."
NOT_ALLOWED = "You are not allowed to access this db."
NOT_DB_ADMIN = "You are not a db or server admin."
BAD_CREDENTIALS = "Name or password is incorrect."
DEFAULT_SECURITY = {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}


def basic(name, password):
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def session_cookie(resp):
    """The `AuthSession=<token>` pair of a response's Set-Cookie, or None."""
    value = resp.header("Set-Cookie") or ""
    m = re.match(r"\s*AuthSession=([^;]*)", value)
    return m and m.group(1)


class AuthTestCase(NodeTestCase):
    node_args = ("--admin", f"{ADMIN}:{ADMIN_PW}")
    _n = 0

    def unique(self, stem):
        AuthTestCase._n += 1
        return f"{stem}{AuthTestCase._n}"

    @property
    def as_admin(self):
        return basic(ADMIN, ADMIN_PW)

    def admin_db(self, stem, security=None):
        name = self.unique(stem)
        self.assertStatus(self.put(db_path(name), headers=self.as_admin), 201)
        if security is not None:
            r = self.put(f"{db_path(name)}/_security", security, headers=self.as_admin)
            self.assertStatus(r, 200)
        return name

    def create_user(self, name, password, roles=()):
        r = self.put(doc_path("_users", f"org.couchdb.user:{name}"),
                     {"name": name, "password": password, "roles": list(roles), "type": "user"},
                     headers=self.as_admin)
        self.assertStatus(r, 201)
        return r.body["rev"]

    def login(self, name, password, form=True):
        if form:
            body = f"name={quote(name)}&password={quote(password)}".encode()
            return self.post("/_session", body, content_type="application/x-www-form-urlencoded")
        return self.post("/_session", {"name": name, "password": password})


class AuthTest(AuthTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {"bob": "bob-pw", "eve": "eve-pw", "tom": "tom-pw"}
        for name, password in cls.users.items():
            roles = ["team"] if name == "tom" else []
            r = cls.node.put(doc_path("_users", f"org.couchdb.user:{name}"),
                             {"name": name, "password": password, "roles": roles, "type": "user"},
                             headers=basic(ADMIN, ADMIN_PW))
            assert r.status == 201, r

    def as_user(self, name):
        return basic(name, self.users[name])

    # ---- §2.2 public endpoints ------------------------------------------------------------------

    def test_2_2_public_endpoints_stay_public(self):
        for path in ("/", "/_up", "/_uuids", "/_session"):
            with self.subTest(path=path):
                self.assertStatus(self.get(path), 200)
        self.assertStatus(self.head("/"), 200)

    def test_2_2_401_without_credentials_on_every_non_public_endpoint(self):
        db = self.admin_db("anon", {"members": {"names": ["bob"]}})
        server = [("GET", "/_all_dbs"), ("GET", "/_db_updates"), ("PUT", "/newdb"),
                  ("DELETE", db_path(db)), ("PUT", db_path(db) + "/"), ("GET", "/_users/_all_docs"),
                  ("GET", "/_scheduler/jobs")]
        for method, path in server:
            with self.subTest(method=method, path=path):
                self.assertError(self.req(method, path), 401, "unauthorized", NOT_SERVER_ADMIN)
        member = [("GET", db_path(db)), ("GET", db_path(db) + "/"), ("GET", doc_path(db, "d")),
                  ("PUT", doc_path(db, "d"), {}), ("POST", db_path(db), {}),
                  ("DELETE", doc_path(db, "d")),
                  ("POST", f"{db_path(db)}/_bulk_docs", {"docs": []}),
                  ("GET", f"{db_path(db)}/_all_docs"), ("POST", f"{db_path(db)}/_revs_diff", {}),
                  ("POST", f"{db_path(db)}/_bulk_get", {"docs": []}),
                  ("GET", f"{db_path(db)}/_security"), ("PUT", f"{db_path(db)}/_security", {}),
                  ("GET", f"{db_path(db)}/_revs_limit"), ("PUT", doc_path(db, "_local/x"), {}),
                  ("POST", f"{db_path(db)}/_ensure_full_commit", {}),
                  ("GET", doc_path("_users", "org.couchdb.user:bob"))]
        for method, path, *body in member:
            with self.subTest(method=method, path=path):
                r = self.req(method, path, body[0] if body else None)
                self.assertError(r, 401, "unauthorized", NOT_AUTHORIZED)
        # Nothing was created or changed.
        self.assertError(self.get("/newdb", headers=self.as_admin), 404, "not_found")
        self.assertEqual(self.get(f"{db_path(db)}/_security", headers=self.as_admin).body,
                         {"members": {"names": ["bob"]}})

    # ---- §2.1 Basic -----------------------------------------------------------------------------

    def test_2_1_basic_admin_works(self):
        r = self.get("/_all_dbs", headers=self.as_admin)
        self.assertStatus(r, 200)
        self.assertIn("_users", r.body)
        self.assertIn("_replicator", r.body)  # system databases exist from the start
        db = self.admin_db("basic")
        self.assertStatus(self.put(doc_path(db, "d"), {"a": 1}, headers=self.as_admin), 201)
        self.assertStatus(self.put(doc_path(db, "_design/x"), {}, headers=self.as_admin), 201)
        self.assertStatus(self.delete(db_path(db), headers=self.as_admin), 200)
        info = self.get("/_session", headers=self.as_admin).body
        self.assertEqual(info["userCtx"], {"name": ADMIN, "roles": ["_admin"]})
        self.assertEqual(info["info"]["authenticated"], "default")

    def test_2_1_wrong_password_401_everywhere(self):
        db = self.admin_db("wrongpw", {"members": {"names": [], "roles": []}})
        for creds in (basic(ADMIN, "nope"), basic("bob", "nope"), basic("ghost", "x")):
            for method, path in (("GET", "/"), ("GET", "/_up"), ("GET", "/_uuids"),
                                 ("GET", "/_session"), ("GET", "/_all_dbs"), ("GET", db_path(db)),
                                 ("GET", doc_path(db, "d")), ("GET", "/no_such_db")):
                with self.subTest(creds=creds, path=path):
                    self.assertError(self.req(method, path, headers=creds), 401, "unauthorized",
                                     BAD_CREDENTIALS)

    def test_regress_basic_credentials_are_standard_base64_only(self):
        # auth.cpp's own decoder read '-' as '+' and '_' as '/': the URL alphabet got through.
        # CouchDB decodes Basic credentials with base64:decode, standard alphabet only.
        creds = b"bob:pass>>>?"  # standard "Ym9iOnBhc3M+Pj4/", URL "Ym9iOnBhc3M-Pj4_"
        standard = base64.b64encode(creds).decode()
        url = base64.urlsafe_b64encode(creds).decode()
        self.assertNotEqual(standard, url)
        r = self.get("/_session", headers={"Authorization": f"Basic {standard}"})
        self.assertError(r, 401, "unauthorized", BAD_CREDENTIALS)  # decodes; wrong password
        for token in (url, url.rstrip("="), standard.replace("+", "-")):
            with self.subTest(token=token):
                r = self.get("/_session", headers={"Authorization": f"Basic {token}"})
                self.assertError(r, 400, "bad_request",
                                 "Authorization header has invalid base64 value")

    # ---- §2.1 cookie sessions -------------------------------------------------------------------

    def test_2_1_cookie_login_form_and_json(self):
        for form in (True, False):
            with self.subTest(form=form):
                r = self.login(ADMIN, ADMIN_PW, form=form)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, {"ok": True, "name": ADMIN, "roles": ["_admin"]})
                set_cookie = r.header("Set-Cookie")
                self.assertRegex(set_cookie, r"^AuthSession=[A-Za-z0-9_-]+;")
                self.assertIn("Path=/", set_cookie)
                self.assertIn("HttpOnly", set_cookie)
                cookie = {"Cookie": f"AuthSession={session_cookie(r)}"}
                info = self.get("/_session", headers=cookie)
                self.assertStatus(info, 200)
                self.assertEqual(info.body["userCtx"], {"name": ADMIN, "roles": ["_admin"]})
                self.assertEqual(info.body["info"]["authenticated"], "cookie")
                self.assertEqual(info.body["info"]["authentication_handlers"],
                                 ["cookie", "default"])
                self.assertStatus(self.get("/_all_dbs", headers=cookie), 200)

    def test_regress_session_content_types_by_media_type(self):
        """issue 12 part 8: the login body's type is its media type, case-insensitive, whole."""
        form = f"name={quote(ADMIN)}&password={quote(ADMIN_PW)}".encode()
        for ctype in ("APPLICATION/X-WWW-FORM-URLENCODED", "application/x-www-form-urlencoded; "
                      "charset=utf-8"):
            with self.subTest(ctype=ctype):
                self.assertStatus(self.post("/_session", form, content_type=ctype), 200)
        body = json.dumps({"name": ADMIN, "password": ADMIN_PW}).encode()
        self.assertStatus(self.post("/_session", body, content_type="Application/JSON"), 200)
        self.assertEqual(self.post("/_session", body, content_type="application/jsonx").status,
                         415)

    def test_2_1_user_login_roles_and_logout(self):
        r = self.login("bob", "bob-pw")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"ok": True, "name": "bob", "roles": []})
        cookie = {"Cookie": f"AuthSession={session_cookie(r)}"}
        self.assertEqual(self.get("/_session", headers=cookie).body["userCtx"],
                         {"name": "bob", "roles": []})
        self.assertError(self.get("/_all_dbs", headers=cookie), 401, "unauthorized",
                         NOT_SERVER_ADMIN)
        out = self.delete("/_session", headers=cookie)
        self.assertStatus(out, 200)
        self.assertEqual(out.body, {"ok": True})
        self.assertRegex(out.header("Set-Cookie") or "", r"^AuthSession=;")
        self.assertEqual(session_cookie(out), "")
        # The emptied cookie is no session.
        anon = self.get("/_session", headers={"Cookie": "AuthSession="})
        self.assertEqual(anon.body["userCtx"], {"name": None, "roles": []})

    def test_2_1_anonymous_session_info(self):
        r = self.get("/_session")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["userCtx"], {"name": None, "roles": []})
        self.assertTrue(r.body["ok"])
        self.assertNotIn("authenticated", r.body["info"])
        self.assertNotIn("authentication_db", r.body["info"])
        self.assertError(self.get("/_session?basic=true"), 401, "unauthorized")

    def test_2_1_bad_login_401_and_no_usable_session(self):
        for name, password in ((ADMIN, "wrong"), ("bob", "wrong"), ("ghost", "x")):
            for form in (True, False):
                with self.subTest(name=name, form=form):
                    r = self.login(name, password, form=form)
                    self.assertError(r, 401, "unauthorized", BAD_CREDENTIALS)
                    self.assertEqual(session_cookie(r), "")
                    self.assertIsNone(r.header("WWW-Authenticate"))
        self.assertError(self.post("/_session", b"name=bob&password=bob-pw",
                                   content_type="text/plain"), 415, "bad_content_type")
        self.assertError(self.post("/_session", {"password": "x"}), 400, "bad_request",
                         "request body must contain a username")

    def test_2_1_forged_and_malformed_cookies(self):
        good = session_cookie(self.login("bob", "bob-pw"))
        raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
        forged = base64.urlsafe_b64encode(b"admin" + raw[3:]).decode().rstrip("=")
        r = self.get("/_session", headers={"Cookie": f"AuthSession={forged}"})
        self.assertEqual(r.body["userCtx"], {"name": None, "roles": []})  # ignored, not admin
        self.assertError(self.get("/_all_dbs", headers={"Cookie": f"AuthSession={forged}"}), 401,
                         "unauthorized", NOT_SERVER_ADMIN)
        self.assertError(self.get("/", headers={"Cookie": "AuthSession=%%%"}), 400, "bad_request",
                         "Malformed AuthSession cookie. Please clear your cookies.")

    def test_2_1_replicator_login_dance(self):
        # CouchDB's replicator: form POST /_session without Authorization, then the cookie only.
        db = self.admin_db("dance", {"members": {"names": ["bob"]}})
        r = self.post("/_session", b"name=bob&password=bob-pw",
                      content_type="application/x-www-form-urlencoded")
        self.assertStatus(r, 200)
        token = session_cookie(r)
        self.assertTrue(token, "200 from POST /_session must carry an AuthSession cookie")
        cookie = {"Cookie": f"AuthSession={token}"}
        info = self.get(db_path(db) + "/", headers=cookie)
        self.assertStatus(info, 200)
        self.assertIn("update_seq", info.body)
        self.assertIn("instance_start_time", info.body)
        doc = self.path_doc("r1", 1, ["a" * 32], x=1)
        r = self.post(f"{db_path(db)}/_revs_diff", {"r1": [doc["_rev"]]}, headers=cookie)
        self.assertEqual(r.body, {"r1": {"missing": [doc["_rev"]]}})
        r = self.post(f"{db_path(db)}/_bulk_docs", {"docs": [doc], "new_edits": False},
                      headers=cookie)
        self.assertStatus(r, 201)
        self.assertEqual(r.body, [])
        self.assertStatus(self.put(doc_path(db, "_local/checkpoint"), {"seq": 1}, headers=cookie),
                          201)
        self.assertStatus(self.post(f"{db_path(db)}/_ensure_full_commit", {}, headers=cookie), 201)

    # ---- §2.1 _users ----------------------------------------------------------------------------

    def test_2_1_admin_creates_user_password_is_hashed(self):
        name = self.unique("jan")
        self.create_user(name, "apple")
        r = self.get(doc_path("_users", f"org.couchdb.user:{name}"), headers=self.as_admin)
        self.assertStatus(r, 200)
        stored = r.body
        self.assertNotIn("password", stored)
        self.assertEqual(stored["password_scheme"], "pbkdf2")
        self.assertEqual(stored["pbkdf2_prf"], "sha256")
        self.assertIsInstance(stored["iterations"], int)
        self.assertRegex(stored["salt"], r"^[0-9a-f]{32}$")
        self.assertRegex(stored["derived_key"], r"^[0-9a-f]{64}$")
        self.assertEqual(stored["roles"], [])
        # The password is nowhere in the database file either.
        with open(os.path.join(self.node.data_dir, "_users.sqlite3"), "rb") as f:
            data = f.read()
        for suffix in ("-wal",):
            path = os.path.join(self.node.data_dir, "_users.sqlite3" + suffix)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data += f.read()
        self.assertNotIn(b'"apple"', data)
        r = self.login(name, "apple")
        self.assertEqual(r.body, {"ok": True, "name": name, "roles": []})
        self.assertStatus(self.get("/_session", headers=basic(name, "apple")), 200)
        self.assertError(self.get("/_session", headers=basic(name, "pear")), 401, "unauthorized",
                         BAD_CREDENTIALS)

    def test_2_1_users_read_and_update_only_their_own_doc(self):
        name = self.unique("ann")
        self.create_user(name, "pw1")
        mine = doc_path("_users", f"org.couchdb.user:{name}")
        r = self.get(mine, headers=basic(name, "pw1"))
        self.assertStatus(r, 200)
        self.assertNotIn("password", r.body)
        self.assertError(self.get(doc_path("_users", "org.couchdb.user:bob"),
                                  headers=basic(name, "pw1")), 403, "forbidden")
        # Own password change; roles stay.
        body = {"_rev": r.body["_rev"], "name": name, "password": "pw2", "roles": [],
                "type": "user"}
        self.assertStatus(self.put(mine, body, headers=basic(name, "pw1")), 201)
        self.assertStatus(self.get("/_session", headers=basic(name, "pw2")), 200)
        self.assertError(self.get("/_session", headers=basic(name, "pw1")), 401, "unauthorized")
        # A user may not grant itself roles.
        rev = self.get(mine, headers=basic(name, "pw2")).body["_rev"]
        r = self.put(mine, {"_rev": rev, "name": name, "roles": ["boss"], "type": "user"},
                     headers=basic(name, "pw2"))
        self.assertError(r, 403, "forbidden", "Only _admin may edit roles")
        # Nor write someone else's doc, nor the listing.
        r = self.put(doc_path("_users", "org.couchdb.user:zed"),
                     {"name": "zed", "password": "x", "roles": [], "type": "user"},
                     headers=basic(name, "pw2"))
        self.assertError(r, 403, "forbidden")
        self.assertError(self.get("/_users/_all_docs", headers=basic(name, "pw2")), 401,
                         "unauthorized", NOT_SERVER_ADMIN)

    def test_2_1_user_doc_validation(self):
        r = self.put(doc_path("_users", "org.couchdb.user:v1"), {"name": "other", "roles": [],
                                                                 "type": "user"},
                     headers=self.as_admin)
        self.assertError(r, 403, "forbidden", "Doc ID must be of the form org.couchdb.user:name")
        r = self.put(doc_path("_users", "org.couchdb.user:v2"), {"name": "v2", "roles": []},
                     headers=self.as_admin)
        self.assertError(r, 403, "forbidden", "doc.type must be user")

    # ---- §2.2 / §4.8 per-database security ------------------------------------------------------

    def test_4_8_new_database_is_admin_only(self):
        db = self.admin_db("fresh")
        r = self.get(f"{db_path(db)}/_security", headers=self.as_admin)
        self.assertEqual(r.body, DEFAULT_SECURITY)
        self.assertError(self.get(db_path(db), headers=self.as_user("bob")), 403, "forbidden",
                         NOT_ALLOWED)
        self.assertError(self.get(db_path(db)), 401, "unauthorized", NOT_AUTHORIZED)

    def test_2_2_members_read_and_write_docs(self):
        db = self.admin_db("members", {"members": {"names": ["bob"], "roles": ["team"]},
                                       "admins": {"names": [], "roles": []}})
        for user in ("bob", "tom"):  # by name, by role
            with self.subTest(user=user):
                h = self.as_user(user)
                r = self.put(doc_path(db, f"d-{user}"), {"v": 1}, headers=h)
                self.assertStatus(r, 201)
                self.assertStatus(self.get(doc_path(db, f"d-{user}"), headers=h), 200)
                self.assertStatus(self.post(db_path(db), {"v": 2}, headers=h), 201)
                r = self.post(f"{db_path(db)}/_bulk_docs", {"docs": [{"_id": f"b-{user}"}]},
                              headers=h)
                self.assertStatus(r, 201)
                self.assertTrue(r.body[0].get("ok"), r)
                self.assertStatus(self.get(f"{db_path(db)}/_all_docs", headers=h), 200)
                self.assertStatus(self.get(db_path(db), headers=h), 200)
                r = self.put(doc_path(db, f"_local/{user}"), {"x": 1}, headers=h)
                self.assertStatus(r, 201)
                self.assertStatus(self.get(f"{db_path(db)}/_security", headers=h), 200)

    def test_2_2_member_design_doc_write_403(self):
        db = self.admin_db("ddoc", {"members": {"names": ["bob"]}})
        h = self.as_user("bob")
        self.assertError(self.put(doc_path(db, "_design/x"), {}, headers=h), 403, "forbidden",
                         NOT_DB_ADMIN)
        self.assertError(self.post(db_path(db), {"_id": "_design/y"}, headers=h), 403, "forbidden",
                         NOT_DB_ADMIN)
        r = self.post(f"{db_path(db)}/_bulk_docs", {"docs": [{"_id": "_design/z"}, {"_id": "ok"}]},
                      headers=h)
        self.assertStatus(r, 201)
        self.assertEqual(r.body[0], {"id": "_design/z", "error": "forbidden",
                                     "reason": NOT_DB_ADMIN})
        self.assertTrue(r.body[1]["ok"])
        self.assertError(self.get(doc_path(db, "_design/z"), headers=self.as_admin), 404,
                         "not_found")
        # Admin writes it; the member reads it.
        self.assertStatus(self.put(doc_path(db, "_design/x"), {}, headers=self.as_admin), 201)
        self.assertStatus(self.get(doc_path(db, "_design/x"), headers=h), 200)

    def test_2_2_member_security_put_refused(self):
        security = {"members": {"names": ["bob"]}, "admins": {"names": []}}
        db = self.admin_db("secput", security)
        r = self.put(f"{db_path(db)}/_security", {"members": {"names": []}},
                     headers=self.as_user("bob"))
        self.assertError(r, 403, "forbidden", NOT_DB_ADMIN)
        r = self.put(f"{db_path(db)}/_revs_limit", 5, headers=self.as_user("bob"))
        self.assertError(r, 403, "forbidden", NOT_DB_ADMIN)
        self.assertEqual(self.get(f"{db_path(db)}/_security", headers=self.as_admin).body, security)

    def test_2_2_db_admin_by_name_may_write_design_docs_and_security(self):
        db = self.admin_db("dbadm", {"members": {"names": ["bob"]}, "admins": {"names": ["eve"]}})
        h = self.as_user("eve")
        self.assertStatus(self.put(doc_path(db, "_design/x"), {}, headers=h), 201)
        security = {"members": {"names": ["bob", "tom"]}, "admins": {"names": ["eve"]}}
        self.assertStatus(self.put(f"{db_path(db)}/_security", security, headers=h), 200)
        self.assertError(self.delete(db_path(db), headers=h), 401, "unauthorized", NOT_SERVER_ADMIN)

    def test_2_2_non_member_403_anonymous_401(self):
        db = self.admin_db("closed", {"members": {"names": ["bob"]}})
        self.assertStatus(self.put(doc_path(db, "d"), {}, headers=self.as_admin), 201)
        for method, path, body in (("GET", db_path(db), None), ("GET", doc_path(db, "d"), None),
                                   ("PUT", doc_path(db, "e"), {}),
                                   ("POST", f"{db_path(db)}/_bulk_docs", {"docs": [{}]}),
                                   ("GET", f"{db_path(db)}/_all_docs", None)):
            with self.subTest(method=method, path=path):
                self.assertError(self.req(method, path, body, headers=self.as_user("eve")), 403,
                                 "forbidden", NOT_ALLOWED)
                self.assertError(self.req(method, path, body), 401, "unauthorized", NOT_AUTHORIZED)

    def test_2_2_db_with_empty_members_is_public(self):
        db = self.admin_db("public", {"members": {"names": [], "roles": []},
                                      "admins": {"names": [], "roles": []}})
        for headers in ({}, self.as_user("eve")):
            with self.subTest(headers=headers):
                key = "anon" if not headers else "eve"
                self.assertStatus(self.put(doc_path(db, f"p-{key}"), {}, headers=headers), 201)
                self.assertStatus(self.get(doc_path(db, f"p-{key}"), headers=headers), 200)
                self.assertStatus(self.get(db_path(db), headers=headers), 200)
        self.assertError(self.put(doc_path(db, "_design/x"), {}), 401, "unauthorized", NOT_DB_ADMIN)
        self.assertError(self.put(doc_path(db, "_design/x"), {}, headers=self.as_user("eve")), 403,
                         "forbidden", NOT_DB_ADMIN)

    def test_2_2_server_admin_endpoints_401_for_users(self):
        db = self.admin_db("srv", {"members": {"names": ["bob"]}})
        h = self.as_user("bob")
        for method, path in (("GET", "/_all_dbs"), ("PUT", "/bobs_db"), ("DELETE", db_path(db)),
                             ("GET", "/_db_updates"), ("PUT", "/_users"),
                             ("DELETE", "/_replicator")):
            with self.subTest(method=method, path=path):
                self.assertError(self.req(method, path, headers=h), 401, "unauthorized",
                                 NOT_SERVER_ADMIN)
        self.assertStatus(self.get(db_path(db), headers=self.as_admin), 200)


class AdminPartyTest(AuthTestCase):
    """No admin configured: everyone is admin, yet wrong credentials still fail."""
    node_args = ()

    def test_2_admin_party(self):
        r = self.get("/_session")
        self.assertEqual(r.body["userCtx"], {"name": None, "roles": ["_admin"]})
        self.assertEqual(r.body["info"]["authenticated"], "default")
        self.assertStatus(self.get("/_all_dbs"), 200)
        self.assertIn("_users", self.get("/_all_dbs").body)
        self.assertError(self.get("/_all_dbs", headers=basic("ghost", "x")), 401, "unauthorized",
                         BAD_CREDENTIALS)
        self.assertIn("admin party", self.node.log())
        # Users created in admin party log in as themselves (not as admin).
        self.assertStatus(self.put(doc_path("_users", "org.couchdb.user:pat"),
                                   {"name": "pat", "password": "pw", "roles": [], "type": "user"}),
                          201)
        r = self.get("/_session", headers=basic("pat", "pw"))
        self.assertEqual(r.body["userCtx"], {"name": "pat", "roles": []})
        self.assertError(self.get("/_all_dbs", headers=basic("pat", "pw")), 401, "unauthorized",
                         NOT_SERVER_ADMIN)


class AdminsFileTest(AuthTestCase):
    """--admins-file: a plain password is hashed and written back; the hash logs in."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="divan-admins-")
        cls.path = os.path.join(cls.tmp, "local.ini")
        with open(cls.path, "w") as f:
            f.write("[couchdb]\nsingle_node = true\n\n[admins]\nroot = plain-pw\n")
        cls.node_args = ("--admins-file", cls.path)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_2_admins_file_hashed_in_place(self):
        with open(self.path) as f:
            text = f.read()
        self.assertNotIn("plain-pw", text)
        self.assertRegex(text, r"root = -pbkdf2:sha256-[0-9a-f]{64},[0-9a-f]{32},\d+\n")
        self.assertIn("[couchdb]\nsingle_node = true\n", text)
        self.assertEqual(os.stat(self.path).st_mode & 0o077, 0)
        self.assertStatus(self.get("/_all_dbs", headers=basic("root", "plain-pw")), 200)
        self.assertError(self.get("/_all_dbs"), 401, "unauthorized", NOT_SERVER_ADMIN)
        # The auth secret sits next to the node uuid, private.
        secret = os.path.join(self.node.data_dir, "_auth_secret")
        self.assertEqual(os.stat(secret).st_mode & 0o077, 0)


class CorsTest(AuthTestCase):
    node_args = ("--admin", f"{ADMIN}:{ADMIN_PW}", "--cors-origins", "*")

    def test_2_2_preflight_204(self):
        r = self.req("OPTIONS", "/somedb/doc", headers={
            "Origin": "http://app.test", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, authorization"})
        self.assertStatus(r, 204)
        self.assertEqual(r.raw, b"")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://app.test")
        methods = {m.strip() for m in r.header("Access-Control-Allow-Methods").split(",")}
        self.assertTrue({"GET", "HEAD", "POST", "PUT", "DELETE", "COPY", "OPTIONS"} <= methods)
        self.assertEqual(r.header("Access-Control-Allow-Headers"), "content-type, authorization")
        self.assertEqual(r.header("Access-Control-Max-Age"), "600")

    def test_2_2_exposed_headers_on_normal_responses(self):
        for headers in ({}, self.as_admin):
            with self.subTest(auth=bool(headers)):
                r = self.get("/_all_dbs", headers={"Origin": "http://app.test", **headers})
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
                exposed = {h.strip() for h in r.header("Access-Control-Expose-Headers").split(",")}
                self.assertTrue({"content-type", "cache-control", "etag", "server"} <= exposed)
        self.assertIsNone(self.get("/").header("Access-Control-Allow-Origin"))  # no Origin

    def test_2_2_options_without_preflight_headers_is_not_a_preflight(self):
        r = self.req("OPTIONS", "/", headers={"Origin": "http://app.test"})
        self.assertError(r, 405, "method_not_allowed")


class CorsCredentialsTest(AuthTestCase):
    node_args = ("--admin", f"{ADMIN}:{ADMIN_PW}", "--cors-origins",
                 "http://app.test, http://other.test", "--cors-credentials")

    def test_2_2_credentials_echo_the_origin(self):
        r = self.req("OPTIONS", "/", headers={"Origin": "http://other.test",
                                              "Access-Control-Request-Method": "GET"})
        self.assertStatus(r, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://other.test")
        self.assertEqual(r.header("Access-Control-Allow-Credentials"), "true")
        r = self.get("/", headers={"Origin": "http://app.test"})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://app.test")
        self.assertEqual(r.header("Access-Control-Allow-Credentials"), "true")
        r = self.get("/", headers={"Origin": "http://evil.test"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        r = self.req("OPTIONS", "/", headers={"Origin": "http://evil.test",
                                              "Access-Control-Request-Method": "GET"})
        self.assertStatus(r, 405)


if __name__ == "__main__":
    unittest.main()
