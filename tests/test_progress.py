"""Long loops show a progress bar with rate and ETA on a terminal, and nothing when output is a file."""
import io

from mixed_r1.progress import progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal_shows_count_rate_and_eta():
    stream = FakeTerminal()
    with progress_bar(4, initial=1, desc="grpo", stream=stream) as bar:  # a resumed run starts at its step
        for _ in range(3):
            bar.update()
    shown = stream.getvalue()
    assert "grpo" in shown and "4/4" in shown and "1/4" in shown
    assert "step/s" in shown or "s/step" in shown  # the rate
    assert "<" in shown  # elapsed<remaining: the ETA


def test_no_bar_when_output_is_not_a_terminal():
    stream = io.StringIO()
    with progress_bar(4, desc="grpo", stream=stream) as bar:
        bar.update(4)
    assert stream.getvalue() == ""
