"""A bundle's redaction: core.redact (the one redactor) over every file, whole, with a report of which rule
masked what kind of thing in which file and how often (never the secret), and, when asked, stable tokens:
the same secret becomes the same REDACTED-nnnn in every file, so an expert can follow one credential across
logs and config without seeing it; the token map is written outside the archive, for the operator alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentops.core.redact import PATTERN_RULES, REGISTERED_RULE, redact_counting

# What each rule removes, for the report's readers.
RULE_KINDS: dict[str, str] = {
    REGISTERED_RULE: "a secret the config names or agentops read (password, token, header value), by value",
    "url-userinfo": "the password in a URL or DSN (scheme://user:PASSWORD@host)",
    "secret-assignment": "a value after password=, token:, secret=, api_key= and the like",
    "auth-header": "an Authorization or X-Api-Key header's credential",
    "secret-flag": "the value of a command-line flag such as --password or --token",
}
assert set(RULE_KINDS) == {REGISTERED_RULE, *PATTERN_RULES}


@dataclass
class BundleRedactor:
    stable_tokens: bool = False
    tokens: dict[str, str] = field(default_factory=dict)  # secret -> token
    rows: list[dict[str, Any]] = field(default_factory=list)  # the redaction report

    def _token(self, secret: str) -> str:
        if secret not in self.tokens:
            self.tokens[secret] = f"REDACTED-{len(self.tokens) + 1:04d}"
        return self.tokens[secret]

    def redact_file(self, path: str, data: bytes) -> bytes:
        """The file's bytes with every secret masked (bytes that are not UTF-8 pass through unchanged)."""
        text = data.decode("utf-8", "surrogateescape")
        out, counts = redact_counting(text, self._token if self.stable_tokens else None, self.tokens.values())
        for rule, count in sorted(counts.items()):
            self.rows.append({"file": path, "rule": rule, "removed": RULE_KINDS[rule], "count": count})
        return out.encode("utf-8", "surrogateescape") if counts else data

    def report(self) -> dict[str, Any]:
        by_rule: dict[str, int] = {}
        for row in self.rows:
            by_rule[row["rule"]] = by_rule.get(row["rule"], 0) + row["count"]
        return {"masked": sum(by_rule.values()), "by_rule": by_rule, "stable_tokens": self.stable_tokens,
                "tokens": len(self.tokens), "rules": RULE_KINDS, "files": self.rows}

    def token_map(self) -> dict[str, str]:
        return {token: secret for secret, token in self.tokens.items()}
