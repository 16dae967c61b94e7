"""What the console's tests share: the password, the playbook, a hostile job title."""

from __future__ import annotations

from workers.sync.plan import load_playbook

PASSWORD = "console-test-password-42"
BOOK = load_playbook("b2b_saas")
HOSTILE = "<script>alert('segsync')</script>"
