"""Pure logic of the SLURM layer: job ports and scontrol paths."""

from __future__ import annotations

import socket

from servedeck.backends.slurm.parse import job_port, parse_scontrol

HOST = socket.gethostname().split(".")[0]


def test_job_port_and_scontrol_paths_with_spaces():
    assert job_port("port=30005", "") == 30005
    assert job_port("", "python -m x --port 8123 --host h") == 8123
    assert job_port("team=a", "sleep 5") is None
    text = ("JobId=42 JobName=a b\n   UserId=root(0) JobState=RUNNING Reason=None\n"
            "   StdOut=/tmp/dir with space/o;$(x).out\n   StdErr=/tmp/e.err\n   NodeList=n1\n")
    fields = parse_scontrol(text)
    assert fields["StdOut"] == "/tmp/dir with space/o;$(x).out"
    assert (fields["JobState"], fields["StdErr"], fields["NodeList"]) == ("RUNNING", "/tmp/e.err", "n1")

