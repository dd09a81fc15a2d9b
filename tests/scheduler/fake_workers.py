"""Stand-in crawl workers for the supervisor's tests: real processes speaking the worker's
protocol (crawler/worker.py) on stdin/stdout, doing what a test needs instead of crawling."""

from __future__ import annotations

# Runs every job at once in a thread, noting when it starts and ends, then reports it "ok".
BUSY_WORKER = """
import json, pathlib, sys, threading, time
log = pathlib.Path(sys.argv[1])
lock = threading.Lock()
def note(step, site):
    with lock, log.open("a") as fh:
        fh.write(f"{time.time()} {step} {site}\\n")
def run(job):
    note(1, job["site"])
    time.sleep(0.6)
    note(-1, job["site"])
    with lock:
        print(json.dumps({"type": "done", "job": job["job"], "site": job["site"],
                          "status": "ok", "counters": {}}), flush=True)
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
threads = []
for line in sys.stdin:
    job = json.loads(line)
    if job["type"] == "stop":
        break
    threads.append(threading.Thread(target=run, args=(job,)))
    threads[-1].start()
for thread in threads:
    thread.join()
"""

# Notes SIGTERM and carries on, never answers a job nor a stop: only SIGKILL ends it.
STUBBORN_WORKER = """
import json, pathlib, signal, sys, time
log = pathlib.Path(sys.argv[1])
def note(signum, frame):
    with log.open("a") as fh:
        fh.write(f"term {time.time()}\\n")
signal.signal(signal.SIGTERM, note)
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
sys.stdin.readline()
with log.open("a") as fh:
    fh.write(f"ready {time.time()}\\n")
time.sleep(120)
"""

# Takes the site as a crawl does, starts its run, then dies without finishing it: by SIGKILL
# (what the kernel's out-of-memory killer sends) or by a bare non-zero exit.
DYING_WORKER = """
import json, os, signal, sys
from crawler.store import Store
url, how = sys.argv[1], sys.argv[2]
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
job = json.loads(sys.stdin.readline())
store = Store(url, migrate=False)
with store.site_lock(job["site"]) as held:
    assert held
    store.start_run(job["site"])
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(3)
"""

# Reports every job failed, with a reason.
FAILING_WORKER = """
import json, sys
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    if job["type"] == "stop":
        break
    print(json.dumps({"type": "done", "job": job["job"], "site": job["site"],
                      "status": "failed", "reason": "site unreachable", "counters": {}}),
          flush=True)
"""

# Writes the first line it is given (the worker's settings and limits) to a file, then stops.
HELLO_WORKER = """
import json, pathlib, sys
pathlib.Path(sys.argv[1]).write_text(sys.stdin.readline())
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
job = json.loads(sys.stdin.readline())
print(json.dumps({"type": "done", "job": job["job"], "site": job["site"], "status": "ok",
                  "counters": {}}), flush=True)
"""

# Reports every job ok, with two failed articles (the run's reason names them).
ERRORS_WORKER = """
import json, sys
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": 0}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    if job["type"] == "stop":
        break
    print(json.dumps({"type": "done", "job": job["job"], "site": job["site"], "status": "ok",
                      "reason": "http://a/1: 404; http://a/2: 404", "counters": {"errors": 2}}),
          flush=True)
"""
