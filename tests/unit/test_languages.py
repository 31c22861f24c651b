"""The host-side language registry: the engine and the CLI name no
language; a new one is a module and a registry entry."""
import pytest

from storlets import languages
from storlets.gateway import registration
from storlets.languages.base import Language, LanguageError


def storlet_params(language, main):
    return {'Language': language, 'Interface-Version': '1.0',
            'Object-Metadata': 'no', 'Main': main}


def test_every_language_is_found_by_name_and_file():
    for name, lang in languages.LANGUAGES.items():
        assert languages.by_name(name.upper()) is lang
        assert languages.for_file('x' + lang.suffix) is lang
        assert lang.title.lower() == name
    assert languages.for_file('notes.txt') is None
    with pytest.raises(LanguageError):
        languages.by_name('cobol')


class Lua(Language):
    name, title, suffix = 'lua', 'Lua', '.lua'

    def validate(self, name, params):
        if not name.endswith(self.suffix):
            raise LanguageError('Storlet name is incorrect')


def test_a_new_language_is_one_registry_entry(monkeypatch):
    params = storlet_params('Lua', 'main')
    with pytest.raises(registration.RegistrationError,
                       match='Unsupported Language'):
        registration.validate_storlet('x.lua', params)
    monkeypatch.setitem(languages.LANGUAGES, 'lua', Lua())
    registration.validate_storlet('x.lua', params)
    with pytest.raises(registration.RegistrationError,
                       match='Storlet name is incorrect'):
        registration.validate_storlet('x.py', params)
    assert languages.for_file('x.lua').title == 'Lua'


@pytest.mark.parametrize('name, main, error', [
    ('s.py', 's.S', None),
    ('s.py', 'other.S', 'Main class should be included in storlet file'),
    ('s.py', 's.a.S', 'Submodule is currently not supported'),
    ('s.txt', 's.S', 'Storlet name is incorrect'),
])
def test_python_rules(name, main, error):
    params = storlet_params('Python', main)
    if error is None:
        registration.validate_storlet(name, params)
        return
    with pytest.raises(registration.RegistrationError, match=error):
        registration.validate_storlet(name, params)


def test_python_finds_the_one_storlet_class(tmp_path):
    path = tmp_path / 'echo.py'
    path.write_text('class Helper:\n    pass\n\n'
                    'class Echo:\n    def __call__(self, i, o, p):\n'
                    '        pass\n')
    assert languages.LANGUAGES['python'].find_main(str(path)) == 'echo.Echo'
    path.write_text('x = 1\n')
    with pytest.raises(LanguageError, match='cannot tell the storlet class'):
        languages.LANGUAGES['python'].find_main(str(path))
