"""Storlet languages, host side: one module per language, one registry.

A language says what the engine and the ``storlets`` CLI need to know about
its storlets, without either naming a language:

* ``name`` (as ``X-Object-Meta-Storlet-Language`` gives it, lower case),
  ``title`` (as the CLI uploads it) and ``suffix`` (the file type, used to
  guess the language of a local file);
* ``validate(name, params)``: the registration rules particular to it (the
  object name, ``Main``, ``Language-Version``); raises ``LanguageError``;
* ``find_main(path, main)``: the ``Main`` of a local file (the given one,
  checked, or the one the file declares);
* ``run_locally(path, main, inputs, params, output, api_jar)``: ``storlets
  test``, one run on local files, without Swift.

The sandbox agent has its own registry for how a language's daemon starts
(``sandbox/storlets_agent/languages.py``). Adding a language is one module
here, one there, and its entry in ``LANGUAGES``.
"""
from storlets.languages.base import Language, LanguageError
from storlets.languages.java import JAVA
from storlets.languages.python import PYTHON

#: name -> Language, in the order /info publishes them
LANGUAGES = {lang.name: lang for lang in (JAVA, PYTHON)}
NAMES = tuple(LANGUAGES)

__all__ = ['LANGUAGES', 'NAMES', 'Language', 'LanguageError', 'by_name',
           'for_file']


def by_name(name):
    """The language called ``name`` (any case); ``LanguageError`` if none."""
    try:
        return LANGUAGES[(name or '').lower()]
    except KeyError:
        raise LanguageError('Unsupported Language')


def for_file(filename):
    """The language of a local storlet file, from its suffix, or None."""
    for lang in LANGUAGES.values():
        if filename.endswith(lang.suffix):
            return lang
    return None
