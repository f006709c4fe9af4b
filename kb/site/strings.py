"""The interface strings the browser script (static/site.js) shows, by the name it uses; the pages
give it them translated (kb.site.pages, `js.strings`)."""

from __future__ import annotations

from kb.site.i18n import N_

# The strings the browser script shows (search results, labels, feedback), by the name it uses.
BROWSER_STRINGS = {
    # Translators: the heading above search results; {query} is what the visitor searched for
    "results_for": N_("Results for “{query}”"),
    "searching": N_("Searching…"),
    "no_results": N_("No articles match your search. Try other words, or contact us below."),
    "enter_query": N_("Type a question or a few words into the search box."),
    "offline_search": N_("Showing matches from this site: full search is not available right now."),
    "machine_label": N_("Machine translation"),
    # Translators: a label on an article shown in another language; {language} is that language's name
    "fallback_label": N_("Only available in {language}"),
    # Translators: a label on a translation whose original article changed since
    "stale_label": N_("Original updated"),
    "thanks": N_("Thank you for your feedback!"),
    "feedback_error": N_("Sorry, your feedback could not be sent. Please try again later."),
    "suggestions": N_("Suggestions"),
    # Translators: the heading of the search page when no article answers; {query} is what was searched for
    "no_match": N_("No article matches “{query}”"),
    # Translators: the heading above the articles offered when the search is not sure which one is meant
    "clarify": N_("Did you mean one of these?"),
    "feedback_done": N_("You have already rated this article. Thank you!"),
    # Translators: a button of the filter above search results that shows the results of every topic
    "all_topics": N_("All topics"),
    # Translators: the last entry of the search suggestions when none is sure to fit: leads to the contact page
    "contact_us": N_("Contact us"),
}
