"""Words of the sample locales (en, de, fr, es, it, pl, tr) that mark personal data for the
scrubber (kb.analytics.scrub): each constant is a regular-expression alternation, matched
case-insensitively unless its comment says otherwise."""

from __future__ import annotations

import re


def _alternation(words: str) -> str:
    """The words, escaped, longest first (so that 'marca' is tried before 'mar')."""
    return "|".join(re.escape(w) for w in sorted(set(words.split()), key=lambda w: (-len(w), w)))


def letter_runs(text: str) -> frozenset[str]:
    """The lowercase runs of letters in `text`: what the scrubber compares to decide quickly
    that a rule cannot match ('st.' gives 'st', 'c/' gives 'c')."""
    return frozenset(re.findall(r"[^\W\d_]+", text.lower()))


# -- passwords and card codes: what follows them is a secret ---------------------------------------
# Strong words: a secret after ':' '=', after a verb (VERBS), or with no marker when it holds a digit.
SECRET_WORDS = (
    r"pass(?:word|wort|wd|code)s?|pwd|kennw[oö]rt(?:er)?|mot\s+de\s+passe|mdp|contrase[ñn]as?"
    r"|has(?:ł|l)(?:o|a|em)|[şs]ifre\w*|pin(?:[\s-]?(?:code|kod\w*|nummer|number|numarası))?"
    r"|(?:code|kod|codice|c[oó]digo)\s+pin|cvv2?|cvc2?|csc|security\s+code|sicherheitscode"
    r"|(?:karten)?prüfnummer|cryptogramme|codice\s+di\s+sicurezza|c[oó]digo\s+de\s+seguridad"
    r"|güvenlik\s+kodu|kod\s+cvv|parola\s+d['’]ordine")
# Weak words (also ordinary words elsewhere: Italian 'parola' is 'word'): only after ':' or '='.
# Each of those words contains one of these (a quick test before the regular expression).
SECRET_STEMS = ("pass", "pwd", "kennw", "mdp", "contras", "has", "fre", "pin", "code", "kod", "codice", "digo",
                "cvv", "cvc", "csc", "secur", "sicher", "prüf", "crypto", "güvenlik", "parol", "clave")
SECRET_WEAK_WORDS = r"parola\w*|clave|passphrase|kod\s+dost[eę]pu"
SECRET_VERBS = _alternation("is was ist war lautet est était es era è é to jest było był")  # "to": Polish only
# Ordinary words that follow "my password is" in a complaint: not secrets.
SECRET_STOP = frozenset("""
    not no wrong incorrect invalid correct right too expired blocked locked forgotten lost missing
    still always never being rejected accepted ok okay fine empty reset changed the my a an case
    required weak short long saved unknown
    falsch nicht ungültig abgelaufen gesperrt zu korrekt richtig vergessen immer noch leer kein
    keine mein das
    pas faux fausse incorrect invalide expiré bloqué oublié trop toujours vide mauvais mon le la
    incorrecta incorrecto inválida caducada bloqueada olvidada demasiado correcta vacía mi
    errata sbagliata scaduta bloccata dimenticata troppo corretta vuota non il
    nie niepoprawne błędne nieprawidłowe zablokowane wygasło zapomniane za poprawne puste moje
    yanlış hatalı geçersiz değil doğru boş kilitli unuttum
""".split())

# -- e-mail addresses written to dodge a filter ---------------------------------------------------
AT_WORDS = _alternation("at arroba arobase chiocciola małpa malpa")
DOT_WORDS = ("dot", "punkt", "point", "punto", "kropka", "nokta")
# A bare "name at domain.tld" counts only for these mail providers (else "bought it at shop.com").
MAIL_PROVIDERS = frozenset("""
    gmail googlemail outlook hotmail yahoo icloud gmx web t-online freenet laposte wanadoo libero
    virgilio tiscali wp onet interia o2 yandex protonmail proton aol yahoo hotmail
""".split())

# -- dates of birth ---------------------------------------------------------------------------------
BIRTH_WORDS = (
    r"birth\w*|born|dob|d\.o\.b\.?|geb(?:oren\w*|urt\w*|\.)|née?|naissance|anniversaire"
    r"|nac(?:í|i|ido|ida|imiento)|cumpleaños|nat[oa]|nascita|compleanno|urodz\w*|ur\.|doğ(?:um|du)\w*")
MONTHS = _alternation("""
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    januar jänner februar märz mai juni juli oktober dezember mär okt dez
    janvier février fevrier mars avril juin juillet août aout septembre octobre novembre décembre
    decembre janv févr fevr avr juil déc
    enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre
    diciembre ene dic
    gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre gen giu lug ago set ott
    styczeń stycznia luty lutego marzec marca kwiecień kwietnia maj maja czerwiec czerwca lipiec
    lipca sierpień sierpnia wrzesień września październik października listopad listopada grudzień
    grudnia sty lut kwi cze lip sie wrz paź lis gru
    ocak şubat mart nisan mayıs haziran temmuz ağustos eylül ekim kasım aralık
""")

# -- street addresses -------------------------------------------------------------------------------
# German street names end in these (any case): Hauptstraße, Lindenstr., Kirchgasse, Parkallee.
STREET_SUFFIXES_DE = r"straße|strasse|str\.|gasse|allee|chaussee"
# ... or, after three or more letters of a capitalised word, in these: Lindenweg, Marktplatz.
STREET_SUFFIXES_DE_SHORT = r"weg|platz|ring|damm|ufer|pfad|steig|markt"
# Street word, then the name, then the house number (es, it, pl).
STREET_BEFORE = _alternation("""
    calle avenida avda paseo travesía glorieta rambla camino plaza ronda
    via viale piazza piazzale corso largo vicolo contrada lungomare strada borgo
    ulica ulicy aleja alei osiedle plac
""")
STREET_BEFORE_ABBR = r"c/|avda\.|av\.|pza\.|p\.zza|c\.so|ul\.|al\.|os\.|pl\."
# Of those, the ones that are also ordinary words ('via DHL'): the name must be capitalised.
STREET_AMBIGUOUS = frozenset("via plaza corso largo camino ronda rambla strada borgo al. os. pl. av.".split())
# House number, then the name, then the street word (en).
STREET_AFTER_EN = _alternation("""
    street st st. road rd rd. avenue ave ave. lane ln ln. drive dr. boulevard blvd blvd. court ct
    ct. place way close crescent terrace square sq sq. gardens grove mews parkway highway hwy
""")
STREET_EN_PLAIN = frozenset("street road avenue lane boulevard drive".split())  # with a lowercase name
# House number, then the street word, then the name (fr).
STREET_AFTER_NUMBER_FR = _alternation("""
    rue avenue av. boulevard bd bd. place allée allee chemin impasse quai route cours square
    passage sentier faubourg cité résidence
""")
STREET_AMBIGUOUS_FR = frozenset("place route cours square passage avenue".split())
FR_ARTICLES = _alternation("de du des la le les l' l’ d' d’ à aux")
STREET_TR_STEMS = ("cad", "cd", "sok", "sk", "bulvar", "blv", "mah", "mh")
STREET_TR = r"caddesi|cadde|cad\.|cd\.|sokağı|sokak|sok\.|sk\.|bulvarı|bulvar|blv\."
# A neighbourhood: its house number needs "No" ("Moda Mahallesi No: 5", not "mahallesi 99 otobanı").
AREA_TR = r"mahallesi|mah\.|mh\."
# Words that are no street name in '3 <words> road' or 'via <words> 10' (lowercase names only).
STREET_STOP_EN = frozenset("""
    the a an on in at of to for by from my your our their this that these those down up along across
    per each every and or other same whole entire long wrong days weeks hours items pairs times
    email e-mail mail app chat phone telefono post dhl ups dpd gls hermes fedex inpost paypal klarna card
    bank transfer website site web online
""".split())
# What a number in "via DHL 2 days" measures: then it is no house number (no single letters:
# 'Via Roma 10 a Milano' is an address).
UNITS = (
    r"days?|tage?n?|werktag\w*|arbeitstag\w*|jours?|d[ií]as|giorni|dni|g[üu]n\w*|business|weeks?"
    r"|wochen?|semaines?|semanas?|settimane|tygodni\w*|hafta\w*|hours?|stunden?|std|heures?|horas?"
    r"|ore|godzin\w*|saat|minut\w*|min|times?|mal|fois|veces|volte|razy|kez|items?|artikel|articles?"
    r"|art[ií]culos|articoli|pezzi|sztuk\w*|adet|ürün\w*|pairs?|paar|paires?|pares|paia|stars?|sterne"
    r"|étoiles|estrellas|stelle|gwiazd\w*|yıldız\w*|years?|jahre?n?|ans?|años|anni|lat|yıl|months?"
    r"|monate?n?|mois|meses|mesi|miesi\w*|euros?|eur|usd|tl|pln|zł|kg|cm|mm|ml|gb|tb|mb|pcs"
    r"|stk|szt|uhr|am|pm|o'clock")

# -- names --------------------------------------------------------------------------------------------
NAME_INTROS = (
    r"my\s+name\s+is|my\s+name's|i\s+am\s+called|mein\s+name\s+ist|ich\s+hei(?:ß|ss)e|je\s+m['’]appelle"
    r"|mon\s+nom\s+est|me\s+llamo|mi\s+nombre\s+es|mi\s+chiamo|il\s+mio\s+nome\s+è|nazywam\s+si[ęe]"
    r"|mam\s+na\s+imi[ęe]|benim\s+ad[ıi]m|ad[ıi]m|ismim")
NAME_INTRO_KEYS = frozenset("name called heiße heisse appelle nom llamo nombre chiamo nome nazywam imię imie "
                            "adım adim ismim".split())
# Titles before a name; matched case-sensitively (Herr Müller, Mme Dubois, Pan Nowak).
NAME_TITLES = (
    r"Mr|Mrs|Ms|Miss|Herr|Frau|Monsieur|Madame|Mme|Mlle|Señor|Señora|Sr|Sra|Srta|Signor|Signora|Sig"
    r"|Sig\.ra|Pan|Pani")
# Uppercase letters of the sample locales, for a regex class.
UPPER = "A-ZÀ-ÖØ-ÞĄĆĘŁŃŚŹŻĞİŞŒ"
