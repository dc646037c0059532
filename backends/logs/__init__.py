"""Log sources: the contract every pane's log follows, files, remote tails, and spec resolution."""
