"""Size limits: an oversized file, an alias bomb or a runaway rule list is refused early."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation.playbook import PlaybookError, load_playbook, parse_playbook
from segmentation.playbook.limits import (
    MAX_NESTING,
    MAX_PLAYBOOK_BYTES,
    MAX_RULES,
    MAX_YAML_VALUES,
)

HEAD = "version: 1\nname: x\n"
TAIL = (
    "models:\n  m:\n    rules:\n      - {name: a, when: {field: industry, eq: x}}\n"
    "    fallback: b\n"
)


def only_issue(text: str) -> tuple[int | None, int | None, str]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, source="p.yaml")
    assert len(caught.value.errors) == 1, str(caught.value)
    issue = caught.value.errors[0]
    return issue.line, issue.column, issue.message


def test_text_over_the_byte_limit_is_refused_where_it_passes_it() -> None:
    # 30 bytes a line: the limit falls inside line MAX // 30 + 1.
    line = "# " + "x" * 27 + "\n"
    text = HEAD + TAIL + line * (MAX_PLAYBOOK_BYTES // len(line) + 10)
    at_line, column, message = only_issue(text)
    passed = MAX_PLAYBOOK_BYTES - len(HEAD + TAIL)
    assert (at_line, column) == (
        (HEAD + TAIL).count("\n") + passed // len(line) + 1,
        passed % len(line) + 1,
    )
    assert message.startswith("playbook is 1.0 MB, over the 1 MiB limit (it passes it here)")
    assert "is this the right file?" in message


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.write((HEAD + TAIL).encode())
        file.truncate(50 * 1024 * 1024)  # sparse: 50 MiB on paper, nothing on disk
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert caught.value.path == str(path)
    assert caught.value.message.startswith("playbook is 52.4 MB, over the 1 MiB limit")


def test_a_playbook_just_under_the_limit_is_read() -> None:
    text = HEAD + TAIL
    text += "#" * (MAX_PLAYBOOK_BYTES - len(text) - 1) + "\n"
    assert len(text.encode()) == MAX_PLAYBOOK_BYTES
    assert parse_playbook(text).models["m"].fallback == "b"


def billion_laughs(levels: int, width: int = 10) -> str:
    lines = [HEAD.rstrip("\n"), "lists:", '  l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines += [
        "models:",
        "  m:",
        "    rules:",
        f"      - {{name: a, when: {{field: industry, in: *l{levels - 1}}}}}",
        "    fallback: b",
    ]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_before_anything_expands() -> None:
    # Nine levels of ten: a billion strings if it were built.
    text = billion_laughs(9)
    line, column, message = only_issue(text)
    # l3 stands for 11,111 values and what comes before it for 12,357: the eighth *l3
    # of l4 passes 100,000.
    assert message.startswith(
        f"alias *l3 repeats 11,111 values and takes the playbook past {MAX_YAML_VALUES:,}"
        " values; refusing it"
    )
    row = text.splitlines()[line - 1]
    assert row.startswith("  l4: &l4 [")
    assert row[column - 1 :].startswith("*l3")
    assert row[: column - 1].count("*l3") == 7


def test_merge_keys_count_as_aliases() -> None:
    lines = [HEAD.rstrip("\n"), "maps:", "  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5}"]
    for level in range(1, 12):
        lines.append(f"  m{level}: &m{level} {{<<: [" + ", ".join([f"*m{level - 1}"] * 4) + "]}")
    text = "\n".join(lines) + "\n" + TAIL
    _, _, message = only_issue(text)
    assert "values and takes the playbook past 100,000 values" in message


def test_aliases_that_stay_small_are_fine() -> None:
    text = (
        "version: 1\nname: x\nmodels:\n  m:\n    rules:\n"
        "      - {name: a, when: &big {field: employees, gte: 1000}}\n"
        "      - {name: b, when: {all: [*big, {field: industry, eq: x}]}}\n"
        "    fallback: c\n"
    )
    book = parse_playbook(text)
    assert [r.when.fields_used() for r in book.models["m"].rules] == [
        {"employees"},
        {"employees", "industry"},
    ]


def test_nesting_too_deep_is_refused() -> None:
    depth = MAX_NESTING + 1
    text = HEAD + "deep: " + "[" * depth + "]" * depth + "\n" + TAIL
    line, column, message = only_issue(text)
    # The root mapping is level 1, the value of 'deep' level 2.
    assert (line, column) == (3, 7 + MAX_NESTING - 1)
    assert message.startswith(f"lists and mappings nest more than {MAX_NESTING} levels deep")


def test_aliases_cannot_nest_past_the_limit_either() -> None:
    # Each anchor is one level taller than the one it repeats: composed, every line is
    # shallow; built, c_i is i + 2 levels tall and sits 2 levels down.
    lines = [HEAD.rstrip("\n"), "chain:", "  c0: &c0 [x]"]
    lines += [f"  c{i}: &c{i} [*c{i - 1}]" for i in range(1, 70)]
    text = "\n".join(lines) + "\n" + TAIL
    line, _, message = only_issue(text)
    assert message.startswith(f"alias *c{MAX_NESTING - 4} nests more than {MAX_NESTING} levels")
    assert text.splitlines()[line - 1].startswith(f"  c{MAX_NESTING - 3}: ")


def many_rules(count: int, *, models: int = 1) -> str:
    per_model = count // models
    out = ["version: 1", "name: many", "models:"]
    for m in range(models):
        out += [f"  m{m}:", "    rules:"]
        out += [
            f"      - {{name: r{m}_{i}, when: {{field: employees, gte: {i}}}}}"
            for i in range(per_model)
        ]
        out.append("    fallback: none")
    return "\n".join(out) + "\n"


def test_too_many_rules_is_refused_at_the_first_one_too_many() -> None:
    text = many_rules(2 * (MAX_RULES + 1), models=2)
    line, column, message = only_issue(text)
    assert message == (
        f"rule {MAX_RULES + 1:,} of {2 * (MAX_RULES + 1):,}: a playbook holds at most"
        f" {MAX_RULES:,} rules (all models together); refusing it — the shipped playbooks"
        " have about 40"
    )
    # The first model holds 1,001 rules: its last one is the first too many.
    assert text.splitlines()[line - 1].startswith(f"      - {{name: r0_{MAX_RULES},")
    assert column == 9


def test_a_model_assigns_at_most_a_picklist_of_values() -> None:
    line, column, message = only_issue(many_rules(MAX_RULES))
    assert (line, column) == (5, 5)  # the model's 'rules' key
    assert message == (
        "1,001 distinct segment values; a model assigns at most 1,000"
        " (a Salesforce picklist's limit) in model m0"
    )


def test_known_fields_are_worked_out_only_for_a_playbook_within_the_limits() -> None:
    calls: list[str] = []

    def known() -> list[str]:
        calls.append("known")
        return ["industry"]

    with pytest.raises(PlaybookError):
        parse_playbook(billion_laughs(9), known_fields=known)
    with pytest.raises(PlaybookError):
        parse_playbook(many_rules(MAX_RULES + 1), known_fields=known)
    assert calls == []
    assert parse_playbook(HEAD + TAIL, known_fields=known).fields_used() == {"industry"}
    assert calls == ["known"]
