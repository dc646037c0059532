"""The cockpit as a whole, without Textual: what needs attention, the overview's blocks,
the joined endpoint view and the event feed, all derived from the snapshots the panes get.

Nothing here polls: every function reads `Snapshot`s the backends already produced, so
the CLI, tests and benchmarks can use it exactly as the overview pane does.
"""
