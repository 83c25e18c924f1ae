"""Languages, below every floor that writes words: the portal's pages, the API's problems,
mails, PDFs and the domains' refusals. `catalogue` reads the .po catalogues (locale/) and puts
a Message into a language, and holds the domains' refusals (Refusal and its kinds); `negotiation`
picks the language of a request."""

from leitstand.i18n.catalogue import (DEFAULT_LANGUAGE, LANGUAGES, LOCALE_DIR, Conflict, Forbidden, Message, NotFound,
                                      Refusal, Throttled, gettext_for, in_language, translations)
from leitstand.i18n.negotiation import LANGUAGE_COOKIE, api_language, negotiate

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANGUAGE_COOKIE", "LOCALE_DIR", "Conflict", "Forbidden", "Message", "NotFound",
           "Refusal", "Throttled", "api_language", "gettext_for", "in_language", "negotiate", "translations"]
