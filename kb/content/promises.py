"""`kb check`'s rule against promising a contact channel that does not exist: an article whose
title or text sends shoppers to a (live) chat while kb.toml lists no chat among the support
channels of the article's locale (issue 16: "remove the promise of a live chat unless one is
configured"). Questions and tags are left alone: they are what shoppers type, not promises."""

from __future__ import annotations

import re

from kb.content.article import Article
from kb.content.config import Config
from kb.content.problems import Problem

# A chat as a channel in the sample's languages (live chat, Live-Chat, chat en direct / en directo /
# dal vivo, chatten, chatear, chattare, czat, canlı sohbet / destek): not a chatbot, not WeChat.
CHAT = re.compile(r"(?<!\w)(?:live[- ]?chat\w*|chat(?:ten|tare|tear|ear)?|tchat\w*|czat\w*"
                  r"|(?!sohbet\s*bot)sohbet\w*|canlı destek)(?!\w)", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


def has_chat(config: Config, locale: str) -> bool:
    """Whether kb.toml lists a chat among the support channels shoppers of `locale` see."""
    support = config.support_for(locale)
    return support is not None and any(CHAT.search(channel) for channel in support.channels)


def chat_promises(config: Config, article: Article, rel: str) -> list[Problem]:
    """One warning per line of the article that mentions a chat its locale has not configured."""
    if has_chat(config, article.locale):
        return []
    out: list[Problem] = []
    lines = [(article.line_of("title"), article.title)]
    in_fence = False
    for offset, line in enumerate(article.body.split("\n")):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            lines.append((article.body_line + offset, line))
    for number, line in lines:
        found = CHAT.search(line)
        if found:
            out.append(Problem("warning", "no-chat", rel, number,
                f"mentions a chat ({found.group(0)!r}) but kb.toml lists no chat among the support channels "
                f"for {article.locale}",
                f"point shoppers to a channel that exists, or add the chat to [support.{article.locale}] channels in kb.toml"))
    return out
