"""tune_client: what a training program needs to run its trials under `tune`. One file, no
dependencies: copy it beside your script, or put this folder on PYTHONPATH.

    from tune_client import Trial

    trial = Trial()                          # reads the TUNE_* environment
    lr = trial.params["learning_rate"]
    state = load(trial.resume_from) if trial.resume_from else fresh(seed=trial.seed)
    for boundary in trial.boundaries_left(): # examples seen at each boundary still to reach
        ...train until `boundary` examples have been seen in all...
        path = trial.checkpoint_path(f"ckpt-{boundary}.pt")
        save(state, path)                    # a file or a folder; never touched again
        trial.report(boundary, path, val_loss=v, train_loss=t)

The contract (README, "Your own training program"): `tune` sets TUNE_PARAMS (a JSON object),
TUNE_TRIAL, TUNE_SEED, TUNE_BOUNDARIES (a JSON array of examples seen at each boundary),
TUNE_CHECKPOINT_DIR, TUNE_DEVICE, TUNE_THREADS and, on a resume, TUNE_RESUME_FROM and
TUNE_RESUME_EXAMPLES. The program prints one line `TUNE {json}` on stdout per boundary, after its
checkpoint is written. `tune` stops a trial with SIGTERM (then SIGKILL): the default handler is
right, since every reported checkpoint is already kept.
"""

import array
import atexit
import gc
import json
import os
import select
import signal
import socket
import stat
import sys
import time

__all__ = ["Trial"]

# How long a trial's process may take to exit after SIGTERM before SIGKILL (as tune's).
GRACE = 5.0

# In a forked trial's process: whether it reported its last boundary, and its exit status then.
_done, _status = False, 0


def _quick_exit():
    """A forked trial's process, once its last report is out, ends here, after the atexit
    handlers its trial registered: its interpreter's teardown would write to most pages it shares
    with the server (reference counts, the collector), each write a page copied, CPU taken from
    the trials still training (docs/benchmarks.md, issue 16). Its exit status is 0 then, 1 after
    an uncaught exception: tune reads it only for a trial that did not complete."""
    if not _done:
        return
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    # Files the trial left open, written but not flushed (the teardown would flush them). Only
    # the trial's own: what the server held is frozen, out of get_objects().
    import io

    for f in [*gc.get_objects(), sys.stdout, sys.stderr]:
        if isinstance(f, io.IOBase):
            try:
                f.flush()
            except Exception:
                pass
    os._exit(_status)


def _serve():
    """tune offers the program to fork (TUNE_FORK=2; unless the study's trainer says `"fork":
    false`) when it starts it for a worker's trial. Its first Trial() (after the program's
    imports and set-up) takes the offer: it says so (a `TUNE_SERVING` line) and becomes a
    server (see `_Server`) that forks each trial's process from itself, so that imports and
    set-up are done once. When its stdin is a socket (a tune that can pass files), it says first
    that it can also fork servers for tune's other workers (`TUNE_SHARES`): the study then runs on
    this one program. Do only imports and loading before Trial(): threads started before a fork
    (an OpenMP pool that ran) do not survive it."""
    del os.environ["TUNE_FORK"]
    sock = None
    if stat.S_ISSOCK(os.fstat(0).st_mode):
        sock = socket.socket(fileno=os.dup(0))
        sys.stdout.write("TUNE_SHARES\n")
    sys.stdout.write("TUNE_SERVING\n")
    sys.stdout.flush()
    _warm_up()
    _become(_Server(sock).run())


class _Server:
    """A worker's server. It reads messages on stdin, each a JSON line: a trial's environment
    (the trial it was started for first), which it hands to a process forked ahead of it (the
    spare, waiting on a pipe: the fork is not on the trial's clock); a stop of a trial (SIGTERM,
    SIGKILL after the grace); or, on a socket, a request for another worker's server, with that
    server's stdin, stdout and stderr attached. It reports each trial's end (a newline, then
    `TUNE_END {"trial": N, "status": S}`, S negative for a signal); a new trial may start while
    the last one's process is still exiting. The end of its input ends it and its trials."""

    def __init__(self, sock):
        self.sock = sock  # stdin as a socket (messages may carry files), or None (a pipe)
        self.pending, self.buf = [], b""
        self.children = {}  # pid -> [trial, time SIGTERM was sent or None]
        self.spare = None  # (pid, write end of its pipe)

    def run(self):
        """Serves until this process is a trial's: returns its message then."""
        while True:
            if self.spare is None:
                spare = _fork_spare(self.sock)
                if isinstance(spare, dict):
                    return spare
                self.spare = spare
            if not self.read(0 if self.pending else 0.01 if self.children else None):
                for pid in [*self.children, self.spare[0]]:
                    os.kill(pid, signal.SIGKILL)
                os._exit(0)
            while self.pending:
                msg = self.pending.pop(0)
                if "stop" in msg:
                    self.stop(msg["stop"])
                elif "worker" in msg:
                    self.fork_worker(msg.get("files", []))
                elif not self.hand(msg):
                    break
            self.reap()

    def read(self, timeout):
        """Reads what arrived within `timeout` (None: waits) into `pending`; False at the end."""
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            return True
        if self.sock is None:
            data = os.read(0, 65536)
            files = []
        else:
            data, anc, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(16 * 4))
            files = []
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    files += array.array("i", raw[: len(raw) - len(raw) % 4]).tolist()
        if not data:
            return False
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                msg = json.loads(line)
                if files:
                    msg["files"], files = files, []
                self.pending.append(msg)
        for fd in files:  # files with no message to take them
            os.close(fd)
        return True

    def stop(self, trial):
        for pid, c in self.children.items():
            if c[0] == trial and c[1] is None:
                os.kill(pid, signal.SIGTERM)
                c[1] = time.monotonic()

    def hand(self, msg):
        """Gives trial `msg` to the spare; False when the spare died (killed from outside): the
        trial goes to the next one."""
        pid, w = self.spare
        self.spare = None
        try:
            data = json.dumps(msg).encode()
            while data:
                data = data[os.write(w, data):]
        except OSError:
            os.close(w)
            os.waitpid(pid, 0)
            self.pending.insert(0, msg)
            return False
        os.close(w)
        self.children[pid] = [int(msg["env"]["TUNE_TRIAL"]), None]
        return True

    def reap(self):
        for pid, c in list(self.children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del self.children[pid]
                # (os.waitstatus_to_exitcode is Python 3.9's.)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                # A newline first: it ends the line a trial's process left unfinished if it died
                # mid-line (tune does not log it when there was none).
                sys.stdout.write("\nTUNE_END " + json.dumps({"trial": c[0], "status": code}) + "\n")
                sys.stdout.flush()
            elif c[1] is not None and time.monotonic() - c[1] > GRACE:
                os.kill(pid, signal.SIGKILL)

    def fork_worker(self, files):
        """Forks a server for another of tune's workers, its stdin, stdout and stderr `files`: it
        is a process group of its own, no child of this one (forked twice: nothing to reap), and
        says so with its process id (`TUNE_SERVING <pid>`); then it serves as this one does."""
        if len(files) != 3:
            for fd in files:
                os.close(fd)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()
        pid = os.fork()
        if pid:
            for fd in files:
                os.close(fd)
            os.waitpid(pid, 0)
            return
        if os.fork():
            os._exit(0)
        os.setpgid(0, 0)
        # Nothing of this server's stays open in the new one: its spare's pipe (the spare reads
        # its trial to the end of it), its control socket (its end is this server's end).
        if self.spare is not None:
            os.close(self.spare[1])
        if self.sock is not None:
            self.sock.close()
        for i, fd in enumerate(files):
            os.dup2(fd, i)
            os.close(fd)
        self.__init__(socket.socket(fileno=os.dup(0)))
        sys.stdout.write(f"TUNE_SERVING {os.getpid()}\n")
        sys.stdout.flush()


def _warm_up():
    """What every trial's process would do first, done once in the server: PyTorch sets its
    optimizers up lazily, and the first one built imports about 900 modules (torch._dynamo,
    sympy: 2 to 3 s measured with torch 2.15, in every forked process otherwise; issue 30). Only
    when the program imported torch; it draws no random number and starts no thread."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        (p * 2).sum().backward()
        opt.step()
    except Exception:  # an unusual build of torch: its trials set it up themselves
        pass


def _can_fork():
    """Whether this process may take tune's offer to fork: only while it runs one thread (a
    thread pool that ran, CUDA's threads, the program's own, would not be in the forked
    processes). Else it declines, saying why on stderr, and runs its trial as a process of its
    own, as with `"fork": false`."""
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        threads = threading.active_count()
    if threads > 1:
        del os.environ["TUNE_FORK"]
        sys.stderr.write(
            f"tune_client: {threads} threads run before Trial(): this program runs a process per "
            "trial (to fork per trial, do only imports and loading before Trial(), on one thread)\n"
        )
        return False
    return True


def _fork_spare(sock):
    """Forks the next trial's process. In the server: its (pid, write end of its pipe). In that
    process: its trial's message, once the server wrote it and closed the pipe (the server's end,
    without one, ends it). The server's control socket `sock` is closed in it."""
    sys.stdout.flush()
    sys.stderr.flush()
    # What the server holds stays out of the child's collections: none of its pages is copied for
    # the collector's marks.
    gc.freeze()
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(r)
        return pid, w
    os.close(w)
    if sock is not None:
        sock.close()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    if not data:
        os._exit(0)
    return json.loads(data)


def _become(msg):
    """Makes this forked process the trial's of `msg`: its environment replaces the server's
    (started for another trial: its TUNE_RESUME_FROM, say, must not stay)."""
    for k in [k for k in os.environ if k.startswith("TUNE_") and k not in msg["env"]]:
        del os.environ[k]
    os.environ.update(msg["env"])
    hook = sys.excepthook

    def failed(kind, value, tb):
        global _status
        _status = 1
        hook(kind, value, tb)

    sys.excepthook = failed
    atexit.register(_quick_exit)


class Trial:
    """One trial's parameters, budget and checkpoint places, from the environment `tune` sets.

    Outside `tune` (to try the program by hand) give `params` and `boundaries`: checkpoints then
    go to `checkpoint_dir` (default: the current folder) and reports to stdout as usual.
    """

    def __init__(self, params=None, boundaries=None, checkpoint_dir="."):
        # Whether this process was forked for its trial by a worker's server (tune's offer).
        self.forked = os.environ.get("TUNE_FORK") == "2" and _can_fork()
        if self.forked:
            _serve()
        env = os.environ
        if "TUNE_PARAMS" in env:
            self.params = json.loads(env["TUNE_PARAMS"])
            self.boundaries = [int(b) for b in json.loads(env["TUNE_BOUNDARIES"])]
            self.checkpoint_dir = env["TUNE_CHECKPOINT_DIR"]
        elif params is not None and boundaries is not None:
            self.params = dict(params)
            self.boundaries = [int(b) for b in boundaries]
            self.checkpoint_dir = checkpoint_dir
        else:
            raise SystemExit(
                "tune_client: TUNE_PARAMS is not set: run this program under tune "
                "(a study whose \"trainer\" names it), or give Trial(params=..., boundaries=...)"
            )
        self.trial = int(env.get("TUNE_TRIAL", "0"))
        self.seed = int(env.get("TUNE_SEED", "0"))
        # The same seed cut to 32 bits, for libraries that take no more (NumPy's legacy seed).
        self.seed32 = int(env.get("TUNE_SEED32", str(self.seed & 0xFFFFFFFF)))
        self.device = env.get("TUNE_DEVICE", "cpu")
        self.threads = int(env.get("TUNE_THREADS", "1"))
        self.resume_from = env.get("TUNE_RESUME_FROM") or None
        self.resume_examples = int(env.get("TUNE_RESUME_EXAMPLES", "0"))
        # With a `data` section in the study: its file and the train/validation split (split.json).
        self.data = env.get("TUNE_DATA") or None
        self.split = env.get("TUNE_SPLIT") or None

    def seed_everything(self):
        """Seeds Python's `random`, and NumPy and PyTorch (CPU and CUDA) where the program imported
        them, from the trial's seed: call it after the imports. A resumed trial restores its
        random states from its checkpoint instead."""
        import random

        random.seed(self.seed)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(self.seed32)
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            torch.manual_seed(self.seed)
            if torch.cuda.is_available():
                torch.cuda.manual_seed_all(self.seed)

    @property
    def total_examples(self):
        """The examples every trial trains on: the last boundary."""
        return self.boundaries[-1]

    def learning_rate(self, examples_seen, **defaults):
        """The rate of a step taken after `examples_seen` examples under the trial's schedule
        (its `learning_rate`, `batch_size`, `schedule`, `warmup`, `min_lr_fraction`,
        `lr_scaling`, `reference_batch_size`; those the space does not give from `defaults`, then
        tune's defaults) over the budget, as tune's built-in trainer computes it
        (`tune_client.schedule.learning_rate`). `examples_seen=None`: the peak rate."""
        from .schedule import learning_rate

        return learning_rate(examples_seen, self.params, self.total_examples, defaults=defaults)

    def boundaries_left(self):
        """The boundaries still to reach (all of them, unless the trial resumes)."""
        return [b for b in self.boundaries if b > self.resume_examples]

    def checkpoint_path(self, name):
        """Where to write a checkpoint called `name`."""
        return os.path.join(self.checkpoint_dir, name)

    def split_rows(self):
        """The study's (training rows, validation rows) as data row indices (0 = the first row
        after the header), when the study names data; else None."""
        if not self.split:
            return None
        with open(self.split) as f:
            s = json.load(f)
        return s["train_rows"], s["validation_rows"]

    def report(self, examples, checkpoint, **metrics):
        """Says that the checkpoint of the boundary at `examples` is written, with its metrics
        (numbers; the study's metric among them). `tune` takes the checkpoint over."""
        fields = {"examples": int(examples), "checkpoint": os.fspath(checkpoint)}
        for k, v in metrics.items():
            # NaN and infinities go as Python's json writes them (bare NaN, Infinity): `tune`
            # reads them, and fails the trial as it fails a built-in one.
            fields[k] = float(v)
        sys.stdout.write("TUNE " + json.dumps(fields) + "\n")
        sys.stdout.flush()
        if self.forked and fields["examples"] >= self.total_examples:
            global _done
            _done = True
