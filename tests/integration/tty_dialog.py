#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and answer its prompts.

    tty_dialog.py PROMPT ANSWER [PROMPT ANSWER ...] -- COMMAND [ARGS]

Waits for each PROMPT to appear before typing its ANSWER (a terminal
discards what is typed before a no-echo prompt). Prints everything the
command wrote and exits with its exit status; 124 when a prompt never came.
"""
import os
import pty
import select
import sys
import time


def main():
    args = sys.argv[1:]
    split = args.index("--")
    pairs = list(zip(args[:split:2], args[1:split:2]))
    command = args[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen = b""
    deadline = time.time() + 20
    for prompt, answer in pairs:
        while prompt.encode() not in seen:
            if time.time() > deadline:
                sys.stdout.write(seen.decode(errors="replace"))
                os.kill(pid, 9)
                sys.exit(124)
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        seen = seen[seen.index(prompt.encode()) + len(prompt):] if prompt.encode() in seen else seen
        sys.stdout.write(prompt)
        time.sleep(0.05)  # the prompt is written just before the terminal mode changes
        os.write(fd, answer.encode() + b"\n")
    rest = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    sys.stdout.write((seen + rest).decode(errors="replace"))
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
