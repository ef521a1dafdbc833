"""Message templates: data files in ``notify/templates/``, one per event kind, checked at start-up, rendered per
channel.

A file declares its variables (type and longest value) and, per locale (ko, ja, en), a title, the text, buttons,
and the code Kakao approved for that text as an AlimTalk template. Loading fails, naming the file and the
variable, when a text uses a variable the file does not declare or leaves one out, and when a text filled to
its variables' limits would not fit an AlimTalk (1,000 characters) or an LMS (2,000 bytes in EUC-KR).
Enqueueing formats and checks the parameters against the declarations (:meth:`Templates.prepare`), so that
rendering at send time cannot fail.

One content, every channel: AlimTalk carries the template code, the variables and its buttons; SMS, LINE,
Instagram and TalkTalk carry the same text with the buttons written out as links, as an SMS when it fits 90
bytes in EUC-KR, else as an LMS with the title.

A file is information (the default: an order step, a restock the shopper asked for) or declares
``kind = "advertising"`` (a price drop, a cart reminder). Information never carries the advertising mark, since
a message mixing the two counts as advertising and AlimTalk may carry information only. Advertising has no
AlimTalk at all, and carries what 정보통신망법 제50조 제4항 asks of every advertisement, checked at load: its text
begins with the locale's mark (:data:`ADVERTISING_MARKS`), names the sender (:data:`SENDER`), and offers the free
opt-out, a ``url`` variable named ``opt_out_url`` introduced by the locale's phrase (:data:`OPT_OUT_PHRASES`).
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from notify.errors import InvalidParametersError, NotifyError, TemplateFileError, UnknownEventError
from notify.providers.base import Button, Channel, Rendered

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from notify.schemas import Locale, ParameterValue

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LOCALES: tuple[Locale, ...] = ("ko", "ja", "en")
SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
LMS_TITLE_MAX_BYTES = 40
ALIMTALK_MAX_CHARS = 1000
ALIMTALK_MAX_BUTTONS = 5
INSTAGRAM_MAX_BYTES = 1000
"""Meta's limit on a text message, in UTF-8."""
TEMPLATE_CODE_MAX = 20
"""NHN Cloud's ``templateCode`` limit."""
KOREA = datetime.timezone(datetime.timedelta(hours=9), "KST")
"""Korea keeps UTC+9 all year: the time every message states."""
VariableType = Literal["text", "amount", "datetime", "url"]
_VARIABLE = re.compile(r"#\{([^}]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_WEEKDAYS = {"ko": "월화수목금토일", "ja": "月火水木金土日"}
ADVERTISING_MARKS: Mapping[Locale, str] = {"ko": "(광고)", "ja": "【広告】", "en": "(Ad)"}
"""What an advertising text begins with, per locale; an information text carries none of them anywhere."""
_ANY_ADVERTISING_MARK = (*ADVERTISING_MARKS.values(), "\uff08광고\uff09", "\uff08Ad\uff09")  # and full-width
SENDER = "Shoa"
"""The sender every advertising text names."""
OPT_OUT_VARIABLE = "opt_out_url"
OPT_OUT_PHRASES: Mapping[Locale, str] = {"ko": "무료 수신거부", "ja": "配信停止", "en": "Unsubscribe (free)"}
"""The words that introduce an advertisement's opt-out link, per locale: the shopper must see it costs nothing."""
KINDS = ("information", "advertising")


@dataclass(frozen=True, kw_only=True)
class Variable:
    name: str
    type: VariableType
    max_length: int


@dataclass(frozen=True, kw_only=True)
class LocaleText:
    title: str
    text: str
    buttons: tuple[Button, ...]
    alimtalk_template_code: str | None
    """None for advertising, which AlimTalk may not carry."""


@dataclass(frozen=True, kw_only=True)
class EventTemplate:
    event: str
    path: Path
    variables: Mapping[str, Variable]
    locales: Mapping[Locale, LocaleText]
    advertising: bool
    """Declared ``kind = "advertising"``: routed only where the recipient gave marketing consent, never by
    AlimTalk, and held overnight without night consent (:mod:`notify.quiet_hours`)."""


class Templates:
    """Every event's template, loaded once per process (the app's start, the worker's) and never changed."""

    def __init__(self, events: Mapping[str, EventTemplate]) -> None:
        self._events = dict(events)

    @classmethod
    def load(cls, directory: Path = TEMPLATES_DIR) -> Templates:
        """Read and check every ``<event>.toml`` in ``directory``; raise :class:`TemplateFileError` on the first
        problem, naming the file."""
        events = {path.stem: _load_file(path) for path in sorted(directory.glob("*.toml"))}
        if not events:
            msg = f"{directory}: no message templates (*.toml) found"
            raise TemplateFileError(msg)
        return cls(events)

    @property
    def events(self) -> list[str]:
        return sorted(self._events)

    def alimtalk_template_codes(self) -> frozenset[str]:
        """Every AlimTalk template code the files name (each information event, each locale): what a provider that
        numbers templates its own way must be told about before it can send them. Advertising has none."""
        return frozenset(
            text.alimtalk_template_code
            for template in self._events.values()
            for text in template.locales.values()
            if text.alimtalk_template_code is not None
        )

    def template(self, event: str) -> EventTemplate:
        try:
            return self._events[event]
        except KeyError:
            msg = f"no message template for event {event!r}; known: {', '.join(self.events)}"
            raise UnknownEventError(msg, field="event") from None

    def prepare(self, event: str, parameters: Mapping[str, ParameterValue], *, locale: Locale) -> dict[str, str]:
        """The parameters checked against the event's declarations and formatted in ``locale``: what is stored
        with the message and filled in at send time."""
        template = self.template(event)
        missing = sorted(set(template.variables) - set(parameters))
        undeclared = sorted(set(parameters) - set(template.variables))
        if missing or undeclared:
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"not declared by {template.path.name}: {', '.join(undeclared)}"] if undeclared else []
            msg = f"{event}: {'; '.join(parts)}"
            raise InvalidParametersError(msg, field=f"parameters.{(missing or undeclared)[0]}")
        return {
            name: _format(event, variable, parameters[name], locale=locale)
            for name, variable in template.variables.items()
        }

    def render(
        self,
        event: str,
        *,
        locale: Locale,
        parameters: Mapping[str, str],
        channel: Channel,
        address: str,
    ) -> Rendered:
        """The message as ``channel`` carries it, from parameters :meth:`prepare` returned.

        An AlimTalk carries no ``fallback``: Shoa falls back to SMS itself (on a permanent refusal or a failed
        receipt), and a provider resending on its own as well would send the SMS twice."""
        content = self.template(event).locales[locale]
        title = _fill(content.title, parameters)
        text = _fill(content.text, parameters)
        buttons = tuple(Button(name=_fill(b.name, parameters), url=_fill(b.url, parameters)) for b in content.buttons)
        if channel is Channel.ALIMTALK:
            if content.alimtalk_template_code is None:
                # Routing never puts advertising on AlimTalk; a queued message whose template became advertising
                # fails here instead of reaching Kakao.
                msg = f"{event} is advertising, and AlimTalk carries information only"
                raise NotifyError(msg)
            return Rendered(
                channel=channel,
                address=address,
                text=text,
                title=title,
                template_code=content.alimtalk_template_code,
                template_parameters=dict(parameters),
                buttons=buttons,
            )
        body = _with_links(text, buttons)
        if channel is Channel.SMS:
            short = sms_bytes(body) <= SMS_MAX_BYTES
            return Rendered(
                channel=channel,
                address=address,
                text=body,
                title=None if short else title,
                sms_kind="SMS" if short else "LMS",
            )
        return Rendered(channel=channel, address=address, text=body, title=title)


def sms_bytes(text: str) -> int:
    """The length of ``text`` as Korean carriers count an SMS: EUC-KR, where Hangul (and kana, and CJK) take 2
    bytes and ASCII 1. CP949 is used to encode, which is EUC-KR extended to every Hangul syllable; a character
    neither has (an emoji) is counted as 2."""
    total = 0
    for character in text:
        try:
            total += len(character.encode("cp949"))
        except UnicodeEncodeError:
            total += 2
    return total


def _fill(text: str, parameters: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda match: parameters[match.group(1)], text)


def _with_links(text: str, buttons: tuple[Button, ...]) -> str:
    if not buttons:
        return text
    return text + "\n\n" + "\n".join(f"{button.name}: {button.url}" for button in buttons)


def _format(event: str, variable: Variable, value: ParameterValue, *, locale: Locale) -> str:
    field = f"parameters.{variable.name}"
    if variable.type == "amount":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            msg = f"{event}: {variable.name} is an amount: a whole number of won, 0 or more"
            raise InvalidParametersError(msg, field=field)
        text = f"{value:,}"
    elif variable.type == "datetime":
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            msg = f"{event}: {variable.name} is a moment: a datetime with its time zone"
            raise InvalidParametersError(msg, field=field)
        text = _moment(value.astimezone(KOREA), locale)
    else:
        if not isinstance(value, str) or not value.strip():
            msg = f"{event}: {variable.name} is text and may not be empty"
            raise InvalidParametersError(msg, field=field)
        if variable.type == "url" and (not value.startswith("https://") or not value.isascii() or " " in value):
            msg = f"{event}: {variable.name} must be an https:// URL, percent-encoded"
            raise InvalidParametersError(msg, field=field)
        text = value
    if len(text) > variable.max_length:
        msg = f"{event}: {variable.name} is longer than its {variable.max_length} characters"
        raise InvalidParametersError(msg, field=field)
    return text


def _moment(moment: datetime.datetime, locale: Locale) -> str:
    if locale == "en":
        return f"{moment:%a} {moment.day} {moment:%b} {moment:%H:%M} KST"
    weekday = _WEEKDAYS[locale][moment.weekday()]
    if locale == "ja":
        return f"{moment.month}月{moment.day}日({weekday}) {moment:%H:%M}"
    return f"{moment.month}월 {moment.day}일({weekday}) {moment:%H:%M}"


# --- Loading and checking a file ------------------------------------------------------------------------------


def _load_file(path: Path) -> EventTemplate:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise TemplateFileError(msg) from None
    if not _NAME.match(path.stem):
        msg = f"{path}: an event kind is lower-case letters, digits and underscores"
        raise TemplateFileError(msg)
    unknown = set(data) - {"kind", "variables", *LOCALES}
    if unknown:
        msg = f"{path}: unknown sections {', '.join(sorted(unknown))}; expected kind, [variables], [ko], [ja], [en]"
        raise TemplateFileError(msg)
    kind = data.get("kind", "information")
    if kind not in KINDS:
        msg = f'{path}: kind is "information" (the default) or "advertising", not {kind!r}'
        raise TemplateFileError(msg)
    advertising = kind == "advertising"
    variables = _variables(path, data.get("variables"))
    opt_out = variables.get(OPT_OUT_VARIABLE)
    if advertising and (opt_out is None or opt_out.type != "url"):
        msg = f"{path}: advertising declares {OPT_OUT_VARIABLE}, a url variable: the free opt-out every one carries"
        raise TemplateFileError(msg)
    locales = {
        locale: _locale_text(path, locale, data.get(locale), variables, advertising=advertising) for locale in LOCALES
    }
    return EventTemplate(event=path.stem, path=path, variables=variables, locales=locales, advertising=advertising)


def _variables(path: Path, table: Any) -> dict[str, Variable]:
    if not isinstance(table, dict) or not table:
        msg = f"{path}: [variables] is missing; declare every variable its texts use"
        raise TemplateFileError(msg)
    variables: dict[str, Variable] = {}
    for name, spec in table.items():
        kind = spec.get("type", "text") if isinstance(spec, dict) else None
        longest = spec.get("max_length") if isinstance(spec, dict) else None
        if not _NAME.match(name) or kind not in {"text", "amount", "datetime", "url"}:
            msg = f"{path}: variable {name!r} needs a lower-case name and a type of text, amount, datetime or url"
            raise TemplateFileError(msg)
        if not isinstance(longest, int) or not 1 <= longest <= ALIMTALK_MAX_CHARS:
            msg = f"{path}: variable {name} needs max_length, from 1 to {ALIMTALK_MAX_CHARS} characters"
            raise TemplateFileError(msg)
        variables[name] = Variable(name=name, type=kind, max_length=longest)
    return variables


def _locale_text(
    path: Path, locale: Locale, table: Any, variables: Mapping[str, Variable], *, advertising: bool
) -> LocaleText:
    where = f"{path}: [{locale}]"
    if not isinstance(table, dict):
        msg = f"{where} is missing: every event has a ko, a ja and an en text"
        raise TemplateFileError(msg)
    title, text, buttons, alimtalk = (
        table.get("title"),
        table.get("text"),
        table.get("buttons", []),
        table.get("alimtalk"),
    )
    if not isinstance(title, str) or not title.strip() or not isinstance(text, str) or not text.strip():
        msg = f"{where} needs a title and a text"
        raise TemplateFileError(msg)
    if not isinstance(buttons, list) or not all(_is_button(b) for b in buttons):
        msg = f"{where}: buttons is a list of {{ name = ..., url = ... }}"
        raise TemplateFileError(msg)
    code = alimtalk.get("template_code") if isinstance(alimtalk, dict) else None
    if advertising and alimtalk is not None:
        msg = f"{where}.alimtalk: advertising has no AlimTalk template, since AlimTalk carries information only"
        raise TemplateFileError(msg)
    if not advertising and (not isinstance(code, str) or not 1 <= len(code) <= TEMPLATE_CODE_MAX):
        msg = f"{where}.alimtalk needs the template_code Kakao approved (at most {TEMPLATE_CODE_MAX} characters)"
        raise TemplateFileError(msg)
    content = LocaleText(
        title=title.strip(),
        text=text.strip(),
        buttons=tuple(Button(name=b["name"], url=b["url"]) for b in buttons),
        alimtalk_template_code=code,
    )
    _check_variables(where, content, variables)
    if advertising:
        _check_advertising(where, locale, content)
    elif any(mark in content.text or mark in content.title for mark in _ANY_ADVERTISING_MARK):
        msg = f'{where} is marked as advertising: information carries no mark (or declare kind = "advertising")'
        raise TemplateFileError(msg)
    _check_sizes(where, content, variables, advertising=advertising)
    return content


def _is_button(button: Any) -> bool:
    return (
        isinstance(button, dict) and set(button) == {"name", "url"} and all(isinstance(v, str) for v in button.values())
    )


def _pieces(content: LocaleText) -> Iterator[tuple[str, str]]:
    yield "title", content.title
    yield "text", content.text
    for number, button in enumerate(content.buttons, start=1):
        yield f"button {number} name", button.name
        yield f"button {number} url", button.url


def _check_variables(where: str, content: LocaleText, variables: Mapping[str, Variable]) -> None:
    used: set[str] = set()
    for piece, value in _pieces(content):
        for name in _VARIABLE.findall(value):
            if name not in variables:
                msg = f"{where} {piece} uses #{{{name}}}, which [variables] does not declare"
                raise TemplateFileError(msg)
            used.add(name)
    if unused := sorted(set(variables) - used):
        msg = f"{where} leaves out #{{{unused[0]}}}: every locale says everything [variables] declares"
        raise TemplateFileError(msg)
    for number, button in enumerate(content.buttons, start=1):
        link = _VARIABLE.fullmatch(button.url)
        if not (button.url.startswith("https://") or (link and variables[link.group(1)].type == "url")):
            msg = f"{where} button {number} url must be https:// or a url variable"
            raise TemplateFileError(msg)


def _check_advertising(where: str, locale: Locale, content: LocaleText) -> None:
    """The text begins with the mark, names the sender, and introduces the opt-out link with the free opt-out
    phrase on the same line."""
    mark, phrase, link = ADVERTISING_MARKS[locale], OPT_OUT_PHRASES[locale], f"#{{{OPT_OUT_VARIABLE}}}"
    if not content.text.startswith(mark):
        msg = f"{where} text is advertising: it begins with {mark}"
        raise TemplateFileError(msg)
    if SENDER not in content.text:
        msg = f"{where} text is advertising: it names the sender, {SENDER}"
        raise TemplateFileError(msg)
    if not any(phrase in line.partition(link)[0] for line in content.text.splitlines() if link in line):
        msg = f"{where} text is advertising: it offers the free opt-out as {phrase!r} then {link}, on one line"
        raise TemplateFileError(msg)


def _check_sizes(where: str, content: LocaleText, variables: Mapping[str, Variable], *, advertising: bool) -> None:
    """Filled to every variable's limit (Hangul, two bytes each; URLs are ASCII), the text still fits: an LMS
    always, an AlimTalk unless it is advertising (which never goes by AlimTalk)."""
    longest = {name: ("a" if v.type == "url" else "가") * v.max_length for name, v in variables.items()}
    text = _fill(content.text, longest)
    buttons = tuple(Button(name=_fill(b.name, longest), url=_fill(b.url, longest)) for b in content.buttons)
    if not advertising and len(text) > ALIMTALK_MAX_CHARS:
        msg = f"{where} text can reach {len(text)} characters; an AlimTalk holds {ALIMTALK_MAX_CHARS}"
        raise TemplateFileError(msg)
    if not advertising and len(buttons) > ALIMTALK_MAX_BUTTONS:
        msg = f"{where} has {len(buttons)} buttons; an AlimTalk holds {ALIMTALK_MAX_BUTTONS}"
        raise TemplateFileError(msg)
    if (size := sms_bytes(_with_links(text, buttons))) > LMS_MAX_BYTES:
        msg = f"{where} text can reach {size} bytes as an SMS; an LMS holds {LMS_MAX_BYTES}"
        raise TemplateFileError(msg)
    if (size := sms_bytes(_fill(content.title, longest))) > LMS_TITLE_MAX_BYTES:
        msg = f"{where} title can reach {size} bytes; an LMS title holds {LMS_TITLE_MAX_BYTES}"
        raise TemplateFileError(msg)
