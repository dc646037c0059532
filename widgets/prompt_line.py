"""The bottom prompt: `:` for commands (with completion) and `/` for filtering."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input


class PromptLine(Input):
    """One input used in two modes; hidden until `:` or `/` is pressed."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
        Binding("tab", "complete", "Complete", show=False, id="prompt.complete"),
    ]

    class Entered(Message):
        def __init__(self, mode: str, value: str):
            super().__init__()
            self.mode = mode
            self.value = value

    class Typed(Message):
        def __init__(self, mode: str, value: str):
            super().__init__()
            self.mode = mode
            self.value = value

    class Cancelled(Message):
        def __init__(self, mode: str):
            super().__init__()
            self.mode = mode

    def __init__(self, commands: list[str], **kwargs):
        super().__init__(**kwargs)
        self.mode = "command"
        self._command_suggester = SuggestFromList(commands, case_sensitive=False)

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.suggester = self._command_suggester if mode == "command" else None
        self.placeholder = "command (tab completes, esc cancels)" if mode == "command" else "filter rows"
        self.value = value
        self.display = True
        self.screen.set_focus(self)  # now, not deferred: keys typed right after `:` land here

    def close(self) -> None:
        self.display = False
        self.value = ""

    def action_cancel(self) -> None:
        mode = self.mode
        self.close()
        self.post_message(self.Cancelled(mode))

    def action_complete(self) -> None:
        if self._suggestion:
            self.value = self._suggestion
            self.cursor_position = len(self.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.display:
            self.post_message(self.Typed(self.mode, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode, value = self.mode, event.value.strip()
        self.display = False
        self.post_message(self.Entered(mode, value))
