"""Every command SofaDB serves, through redis-py, against a running listener.

Run by tests/redis_py.rs as `python3 tests/redis_py/commands.py PORT` against a three-priest
Parliament; exits non-zero (with the failed assertion) if any answer differs from Redis's.
Every key is prefixed with `py:`; the script first removes those left by an earlier run.
"""

import sys
import time

import redis

port = int(sys.argv[1])
# RESP2: the listener does not speak RESP3, which redis-py 8 asks for by default.
r = redis.Redis(
    host="127.0.0.1", port=port, protocol=2, decode_responses=True, socket_timeout=20
)


def fails(call, text):
    """`call()` raises a ResponseError whose message starts with `text`."""
    try:
        call()
    except redis.exceptions.ResponseError as e:
        assert str(e).startswith(text), f"{e!r} does not start with {text!r}"
        return
    raise AssertionError(f"no error; expected {text!r}")


assert r.ping() is True
# Start from no key of this script's (when run again against the same database).
old = r.keys("py:*")
if old:
    assert r.delete(*old) == len(old)

# SET and its options, GET, SETNX, GETSET, GETDEL.
assert r.set("py:s", "a") is True
assert r.get("py:s") == "a"
assert r.set("py:s", "b", nx=True) is None
assert r.set("py:s", "b", xx=True) is True
assert r.set("py:none", "x", xx=True) is None
assert r.get("py:none") is None
assert r.set("py:s", "c", get=True) == "b"
assert r.set("py:new", "n", nx=True, get=True) is None
assert r.get("py:new") == "n"
assert r.setnx("py:s", "z") is False
assert r.setnx("py:nx", "z") is True
assert r.getset("py:s", "d") == "c"
assert r.getdel("py:s") == "d"
assert r.getdel("py:s") is None
assert r.get("py:s") is None

# MSET and MGET.
assert r.mset({"py:a": "1", "py:b": "2", "py:c": "3"}) is True
assert r.mget("py:a", "py:x", "py:c") == ["1", None, "3"]
assert r.mget(["py:b"]) == ["2"]

# INCR and the like, with Redis's errors.
assert r.incr("py:n") == 1
assert r.incrby("py:n", 41) == 42
assert r.decr("py:n") == 41
assert r.decrby("py:n", 50) == -9
assert r.get("py:n") == "-9"
r.set("py:n", "9223372036854775807")
fails(lambda: r.incr("py:n"), "increment or decrement would overflow")
assert r.get("py:n") == "9223372036854775807"
r.set("py:n", "1.5")
fails(lambda: r.incr("py:n"), "value is not an integer or out of range")
fails(lambda: r.execute_command("INCRBY", "py:n", "x"), "value is not an integer or out of range")
fails(
    lambda: r.execute_command("DECRBY", "py:n", "-9223372036854775808"),
    "decrement would overflow",
)

# APPEND and STRLEN.
assert r.append("py:t", "Hello") == 5
assert r.append("py:t", " World") == 11
assert r.strlen("py:t") == 11
assert r.strlen("py:missing") == 0
assert r.get("py:t") == "Hello World"

# DEL and EXISTS of several keys.
assert r.exists("py:a", "py:a", "py:x") == 2
assert r.delete("py:a", "py:b", "py:x") == 2
assert r.exists("py:a") == 0

# The keyspace: DBSIZE, KEYS, SCAN (with MATCH and COUNT), scan_iter.
for i in range(25):
    r.set(f"py:scan:{i}", str(i))
size = r.dbsize()
assert size >= 25, size
assert sorted(r.keys("py:scan:1?")) == sorted(f"py:scan:{i}" for i in range(10, 20))
assert sorted(r.keys("py:scan:[2-3]")) == ["py:scan:2", "py:scan:3"]
seen = list(r.scan_iter(match="py:scan:*", count=4))
assert sorted(seen) == sorted(f"py:scan:{i}" for i in range(25)), seen
assert len(seen) == 25, "every key exactly once"
cursor, keys = r.scan(0, count=3)
assert cursor != 0 and isinstance(cursor, int) and len(keys) >= 3
rest = r.scan(cursor, count=1_000_000)
assert rest[0] == 0 and len(keys) + len(rest[1]) == size
everything = []
cursor = 0
while True:
    cursor, keys = r.scan(cursor, count=7)
    everything += keys
    if cursor == 0:
        break
assert len(everything) == size == len(set(everything))
fails(lambda: r.execute_command("SCAN", "not-a-cursor"), "invalid cursor")

# Wrong arity and unknown commands: errors, and the connection goes on.
fails(lambda: r.execute_command("MGET"), "wrong number of arguments for 'mget' command")
fails(lambda: r.execute_command("MSET", "py:a"), "wrong number of arguments for 'mset' command")
fails(lambda: r.execute_command("GET", "a", "b"), "wrong number of arguments for 'get' command")
fails(lambda: r.execute_command("SET", "py:a", "1", "NX", "XX"), "syntax error")
fails(lambda: r.execute_command("HSET", "h", "f", "v"), "unknown command 'HSET'")
assert r.get("py:nx") == "z"

# Keys that expire: deadlines on the law's clock, counted from each decree's stamp.
assert r.set("py:e", "v", ex=100) is True
assert 0 < r.ttl("py:e") <= 100
assert 0 < r.pttl("py:e") <= 100_000
assert r.persist("py:e") is True
assert r.ttl("py:e") == -1 and r.pttl("py:none") == -2
assert r.expire("py:e", 100, nx=True) is True
assert r.expire("py:e", 50, gt=True) is False
assert r.pexpire("py:e", 50_000, lt=True) is True
assert r.setex("py:e", 100, "w") is True and r.ttl("py:e") > 0
assert r.psetex("py:e", 100_000, "x") is True and r.pttl("py:e") > 0
assert r.getex("py:e", persist=True) == "x" and r.ttl("py:e") == -1
assert r.set("py:e", "y", keepttl=True) is True and r.ttl("py:e") == -1
assert r.expireat("py:e", 1) is True and r.get("py:e") is None
assert r.set("py:e", "z", px=150) is True
deadline = time.monotonic() + 10
while r.exists("py:e") and time.monotonic() < deadline:
    time.sleep(0.05)
assert r.get("py:e") is None and r.pttl("py:e") == -2
fails(lambda: r.set("py:e", "v", ex=0), "invalid expire time in 'set' command")
fails(lambda: r.execute_command("EXPIRE", "py:e", "soon"), "value is not an integer or out of range")
fails(lambda: r.execute_command("TTL"), "wrong number of arguments for 'ttl' command")

# A pipeline (not a transaction): answers in order.
p = r.pipeline(transaction=False)
p.set("py:p", "1").incr("py:p").get("py:p").mget("py:p", "py:nx")
assert p.execute() == [True, 2, "2", ["2", "z"]]

# A transaction: one decree; a runtime error is its command's entry, the others take effect.
p = r.pipeline(transaction=True)
p.set("py:tx", "1").incr("py:tx").get("py:tx").set("py:tw", "word").incr("py:tw")
res = p.execute(raise_on_error=False)
assert res[:4] == [True, 2, "2", True], res
assert isinstance(res[4], redis.exceptions.ResponseError), res
assert r.get("py:tw") == "word"
# An error while queuing: redis-py raises, and nothing ran.
p = r.pipeline(transaction=True)
p.set("py:ta", "1").execute_command("GET", "py:ta", "extra")
try:
    p.execute()
    raise AssertionError("no error")
except redis.exceptions.ExecAbortError:
    pass
except redis.exceptions.ResponseError as e:
    assert "wrong number of arguments" in str(e) or "EXECABORT" in str(e), repr(e)
assert r.get("py:ta") is None
# WATCH, optimistic: the transaction runs if the key holds what was watched, and
# raises WatchError (nothing ran) if another client changed it.
r.set("py:bal", "10")
with r.pipeline() as p:
    p.watch("py:bal")
    bal = int(p.get("py:bal"))
    p.multi()
    p.set("py:bal", str(bal - 3))
    assert p.execute() == [True]
assert r.get("py:bal") == "7"
other = redis.Redis(host="127.0.0.1", port=port, protocol=2, decode_responses=True)
with r.pipeline() as p:
    p.watch("py:bal")
    bal = int(p.get("py:bal"))
    other.set("py:bal", "100")
    p.multi()
    p.set("py:bal", str(bal - 3))
    try:
        p.execute()
        raise AssertionError("the watch did not abort the transaction")
    except redis.exceptions.WatchError:
        pass
assert r.get("py:bal") == "100"


def withdraw(pipe):
    bal = int(pipe.get("py:bal"))
    pipe.multi()
    pipe.set("py:bal", str(bal - 1))


assert r.transaction(withdraw, "py:bal") == [True]
assert r.get("py:bal") == "99"
fails(lambda: r.execute_command("EXEC"), "EXEC without MULTI")
fails(lambda: r.execute_command("DISCARD"), "DISCARD without MULTI")

# COMMAND, as redis-py reads it.
count = r.command_count()
assert count >= 20, count
table = r.command()
assert len(table) == count
assert table["get"]["arity"] == 2 and table["mset"]["arity"] == -3
assert "readonly" in table["mget"]["flags"]
assert "scan" in r.command_list()
# (redis-py sends a command name of two words as two words.)
docs = r.execute_command("COMMAND DOCS", "get")
assert docs[0] == "get" and "summary" in docs[1], docs
assert r.execute_command("COMMAND INFO", "mget", "nosuch")[1] is None

print("redis-py", redis.__version__, "ok")
