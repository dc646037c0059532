"""Modal screens: the help listing and the confirmation asked before destructive actions."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


@dataclass(frozen=True)
class HelpEntry:
    scope: str  # "global" or a pane title
    keys: str
    description: str
    binding_id: str
    enabled: bool
    why_disabled: str = ""


def render_help(entries: list[HelpEntry]) -> Text:
    text = Text()
    scope = None
    for entry in entries:
        if entry.scope != scope:
            scope = entry.scope
            text.append(f"\n{scope}\n", style="bold underline")
        style = "" if entry.enabled else "dim strike"
        text.append(f"  {entry.keys:<16}", style="bold cyan" if entry.enabled else "dim")
        text.append(f"{entry.description:<32}", style=style)
        text.append(f" {entry.binding_id}", style="dim")
        if not entry.enabled:
            text.append(f"  (disabled: {entry.why_disabled})", style="yellow")
        text.append("\n")
    return text


class HelpScreen(ModalScreen[None]):
    """Every binding of the focused pane and the global ones, disabled ones marked."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, entries: list[HelpEntry], footer_note: str = ""):
        super().__init__()
        self.entries = entries
        self.footer_note = footer_note

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("Keys — binding ids can be remapped under ui.keys in the config", style="bold"))
            with VerticalScroll():
                yield Static(render_help(self.entries), id="help-body")
            yield Static(Text(self.footer_note or "esc closes", style="dim"))

    def action_dismiss(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Asks before an action that stops, removes or cancels something."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TextScreen(ModalScreen[None]):
    """A scrollable block of already-sanitised text: details, descriptions."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="text.close")]

    def __init__(self, title: str, text: str):
        super().__init__()
        self.title_text = title
        self.body = text

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text(self.title_text, style="bold"))
            with VerticalScroll():
                yield Static(Text(self.body), id="text-body")
            yield Static(Text("esc closes", style="dim"))

    def action_dismiss(self) -> None:
        self.dismiss(None)


class ValueScreen(ModalScreen["str | None"]):
    """Asks for one value (a worker URL, a replica count) before an action runs."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="value.cancel")]

    def __init__(self, prompt: str):
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        from textual.widgets import Input

        with Vertical(id="confirm-box"):
            yield Static(self.prompt, id="confirm-question")
            yield Input(id="value-input")

    def on_mount(self) -> None:
        self.query_one("#value-input").focus()

    def on_input_submitted(self, event) -> None:
        event.stop()
        value = event.value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
