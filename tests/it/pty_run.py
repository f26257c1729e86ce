"""Runs a command on a pseudo-terminal and types an answer at its prompt, for tests of what
provision asks on a terminal (an MFA code).

    python pty_run.py PROMPT ANSWER PROGRAM [ARGS...]

Prints everything the terminal showed (stdout and stderr together, as a terminal shows them) and
exits with the command's status. Gives up after 60 s.
"""

import os
import pty
import select
import sys
import termios
import time


def echo_off(fd):
    """Whether the terminal stopped echoing (a prompt for a secret is reading). Input typed before
    then may be flushed when the program changes the terminal's settings."""
    try:
        return not termios.tcgetattr(fd)[3] & termios.ECHO
    except termios.error:
        return False


prompt, answer, argv = sys.argv[1].encode(), sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
shown, answered, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if fd not in ready:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    shown += data
    if not answered and prompt in shown:
        waited = time.time()
        while not echo_off(fd) and time.time() - waited < 2:
            time.sleep(0.05)
        os.write(fd, (answer + "\n").encode())
        answered = True
done, status = os.waitpid(pid, os.WNOHANG)
if done == 0:
    # Still running at the deadline (or after the terminal closed): stop it, and say so.
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    shown += b"\n[pty_run: killed after 60 s]\n"
sys.stdout.write(shown.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
