#!/usr/bin/env python3
"""worker.py - a persistent worker for gearbox's pool plugin (Bazel's JSON
worker protocol): one request object per line on stdin, one response object
per line on stdout, until EOF. Standard library only.

A request's "arguments" say what to do:
  -c CODE [ARGS...]   run the Python code CODE as `python3 -c CODE ARGS...`
                      would (sys.argv is ["-c", ARGS...]); its stdout is the
                      response's "output", SystemExit(N) its "exitCode", an
                      uncaught exception exit code 1 with the traceback on
                      stderr
  --expr EXPR         evaluate an arithmetic expression (numbers, + - * / // %
                      ** and parentheses only) and answer its value
  --after N ARGS...   do ARGS only once N requests that arrived after this one
                      have been answered: a way to make a multiplex worker
                      answer out of order (after 30 s: exit code 2)
A `--persistent_worker` argument to the worker itself is accepted and ignored.

Multiplex: a request with a non-zero requestId is handled on a thread of its
own, so several are in flight at once and answers go out as they are ready,
in any order, each with its request's requestId. A request with requestId 0
(singleplex) is handled before the next line is read. Code run with -c sees
its own sys.argv and prints to its own buffer (both are per thread), and may
`import gbx_worker` for hold() and wait_held(n) (tests use them to have
several requests in flight when the worker dies).

The protocol lines go to the real stdout only (sys.__stdout__); code that
prints goes to a buffer. stderr is gearbox's stderr.
"""
import ast
import io
import json
import operator
import sys
import threading
import traceback

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
       ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
       ast.Mod: operator.mod, ast.Pow: operator.pow,
       ast.USub: operator.neg, ast.UAdd: operator.pos}


def arith(node):
    if isinstance(node, ast.Expression):
        return arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        return OPS[type(node.op)](arith(node.left), arith(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in OPS:
        return OPS[type(node.op)](arith(node.operand))
    raise ValueError("not plain arithmetic")


class _Local(threading.local):
    out, argv, seq = None, (), 0


_tl = _Local()


class _ThreadStdout(io.TextIOBase):
    """sys.stdout: the running request's buffer (stderr outside one)."""
    def write(self, s):
        return (_tl.out or sys.__stderr__).write(s)

    def writable(self):
        return True


class _ThreadArgv(list):
    """sys.argv: the running request's."""
    def __getitem__(self, i):
        return list(_tl.argv)[i]

    def __len__(self):
        return len(_tl.argv)

    def __iter__(self):
        return iter(_tl.argv)

    def __contains__(self, x):
        return x in _tl.argv

    def __repr__(self):
        return repr(list(_tl.argv))


class _State:
    cv = threading.Condition()  # also the lock for writing a response
    arrived = held = 0
    answered = []               # arrival numbers of answered requests


def hold(timeout=30):
    """Keeps this request in flight (at most timeout s): counts as held."""
    with _State.cv:
        _State.held += 1
        _State.cv.notify_all()
        _State.cv.wait_for(lambda: False, timeout)  # only the worker's end stops it
        _State.held -= 1


def wait_held(n, timeout=30):
    """Waits until n requests are in hold()."""
    with _State.cv:
        return _State.cv.wait_for(lambda: _State.held >= n, timeout)


def wait_answered(n, timeout=30):
    """Waits until n requests that arrived after this one were answered."""
    me = _tl.seq
    with _State.cv:
        return _State.cv.wait_for(lambda: sum(s > me for s in _State.answered) >= n, timeout)


def run_code(code, args):
    out = io.StringIO()
    _tl.out, _tl.argv = out, ["-c"] + args
    code_rc = 0
    try:
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        if e.code is None:
            code_rc = 0
        elif isinstance(e.code, int):
            code_rc = e.code
        else:
            print(e.code, file=sys.stderr)
            code_rc = 1
    except BaseException:
        traceback.print_exc()
        code_rc = 1
    finally:
        _tl.out, _tl.argv = None, ()
    return code_rc, out.getvalue()


def handle(args):
    if len(args) >= 2 and args[0] == "--after" and args[1].isdigit():
        if not wait_answered(int(args[1])):
            return 2, "--after %s: not that many answered after this one\n" % args[1]
        return handle(args[2:])
    if len(args) >= 2 and args[0] == "-c":
        return run_code(args[1], list(args[2:]))
    if len(args) == 2 and args[0] == "--expr":
        try:
            return 0, "%s\n" % arith(ast.parse(args[1], mode="eval"))
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError) as e:
            return 2, "bad expression: %s\n" % e
    return 2, "usage: [--after N] -c CODE [ARGS...] | --expr EXPR (got %r)\n" % (args,)


def serve(req, seq):
    _tl.seq = seq
    rc, output = handle(req.get("arguments", []))
    resp = {"exitCode": rc, "output": output, "requestId": req.get("requestId", 0)}
    with _State.cv:
        sys.__stdout__.write(json.dumps(resp) + "\n")
        sys.__stdout__.flush()
        _State.answered.append(seq)
        _State.cv.notify_all()


def main():
    sys.stdout, sys.argv = _ThreadStdout(), _ThreadArgv()
    sys.modules["gbx_worker"] = sys.modules[__name__]
    threads = []
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        with _State.cv:
            _State.arrived += 1
            seq = _State.arrived
        if req.get("requestId", 0):
            threads = [t for t in threads if t.is_alive()]
            threads.append(threading.Thread(target=serve, args=(req, seq)))
            threads[-1].start()
        else:
            serve(req, seq)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
