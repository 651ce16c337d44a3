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
A `--persistent_worker` argument to the worker itself is accepted and ignored.

The protocol lines go to the real stdout only (sys.__stdout__); code that
prints goes to a buffer. stderr is gearbox's stderr.
"""
import ast
import io
import json
import operator
import sys
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


def run_code(code, args):
    out = io.StringIO()
    saved_out, saved_argv = sys.stdout, sys.argv
    sys.stdout, sys.argv = out, ["-c"] + args
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
        sys.stdout, sys.argv = saved_out, saved_argv
    return code_rc, out.getvalue()


def handle(args):
    if len(args) >= 2 and args[0] == "-c":
        return run_code(args[1], list(args[2:]))
    if len(args) == 2 and args[0] == "--expr":
        try:
            return 0, "%s\n" % arith(ast.parse(args[1], mode="eval"))
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError) as e:
            return 2, "bad expression: %s\n" % e
    return 2, "usage: -c CODE [ARGS...] | --expr EXPR (got %r)\n" % (args,)


def main():
    proto = sys.__stdout__
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        rc, output = handle(req.get("arguments", []))
        resp = {"exitCode": rc, "output": output, "requestId": req.get("requestId", 0)}
        proto.write(json.dumps(resp) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
