"""What a Java storlet jar holds, read without a JVM (for ``storlets deploy``).

A jar is a zip of class files. For each class we read just enough of the
class file format (JVMS chapter 4: the constant pool, then this class, its
superclass and its interfaces) to know which classes implement
``org.openstack.storlet.common.IStorlet``, directly or through a superclass
or interface defined in the same jar. That lets the CLI find ``Main`` on its
own and refuse, before any upload, a jar whose ``Main`` is missing or is not
a storlet, or a jar that bundles the engine's own API classes.
"""
import struct
import zipfile

ISTORLET = 'org/openstack/storlet/common/IStorlet'
API_PACKAGE = 'org/openstack/storlet/common/'

# Constant pool tags and the size of their payload (Utf8 is variable).
_CLASS, _UTF8 = 7, 1
_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4,
          15: 3, 16: 2, 17: 4, 18: 4, 19: 2, 20: 2}


class JarError(ValueError):
    """The file is not a usable storlet jar; str() says why."""


def class_header(data):
    """``(name, superclass, [interfaces])`` of a class file, slash-separated
    names (superclass None for java/lang/Object)."""
    if data[:4] != b'\xca\xfe\xba\xbe':
        raise JarError('not a class file')
    (count,) = struct.unpack_from('>H', data, 8)
    offset, index = 10, 1
    utf8, classes = {}, {}
    while index < count:
        tag = data[offset]
        if tag == _UTF8:
            (size,) = struct.unpack_from('>H', data, offset + 1)
            utf8[index] = data[offset + 3:offset + 3 + size].decode(
                'utf-8', 'replace')
            offset += 3 + size
        elif tag in _SIZES:
            if tag == _CLASS:
                (classes[index],) = struct.unpack_from('>H', data, offset + 1)
            offset += 1 + _SIZES[tag]
        else:
            raise JarError('unknown constant pool tag %d' % tag)
        # long and double constants take two slots
        index += 2 if tag in (5, 6) else 1
    _, this, super_, n = struct.unpack_from('>HHHH', data, offset)
    interfaces = struct.unpack_from('>%dH' % n, data, offset + 8)

    def name(i):
        return utf8.get(classes.get(i)) if i else None
    return name(this), name(super_), [name(i) for i in interfaces]


def read_jar(path):
    """``{class name: (superclass, interfaces)}`` of every class in a jar."""
    try:
        with zipfile.ZipFile(path) as jar:
            headers = {}
            for entry in jar.namelist():
                if entry.endswith('.class') and \
                        not entry.startswith('META-INF/'):
                    name, super_, interfaces = class_header(jar.read(entry))
                    headers[name] = (super_, interfaces)
            return headers
    except (zipfile.BadZipFile, OSError, struct.error, IndexError) as err:
        raise JarError('not a readable jar (%s)' % err)


def implements(headers, name, seen=()):
    """Does class ``name`` implement IStorlet? True, False, or None when
    part of its hierarchy is outside the jar (a dependency jar's class)."""
    if name == ISTORLET:
        return True
    if name in seen:
        return False
    if name not in headers:
        # the JDK's classes are no storlets; anything else may be
        return False if name.startswith(('java/', 'javax/')) else None
    super_, interfaces = headers[name]
    answers = [implements(headers, other, seen + (name,))
               for other in [super_] + interfaces if other]
    if True in answers:
        return True
    return None if None in answers else False


def storlet_classes(headers):
    """Dotted names of the classes that surely implement IStorlet."""
    return sorted(name.replace('/', '.') for name in headers
                  if name != ISTORLET and implements(headers, name))


def check_storlet_jar(path, main=None):
    """Check a jar before upload; return its Main (found if not given)."""
    headers = read_jar(path)
    if any(name.startswith(API_PACKAGE) for name in headers):
        raise JarError('it bundles the storlet API classes (%s*); compile '
                       'against storlets-api.jar but do not package it'
                       % API_PACKAGE.replace('/', '.'))
    storlets = storlet_classes(headers)
    if main is None:
        if len(storlets) != 1:
            raise JarError('cannot tell the storlet class (found %s); give '
                           '--main' % (', '.join(storlets) or 'none'))
        return storlets[0]
    internal = main.replace('.', '/')
    if internal not in headers:
        raise JarError('class %s is not in the jar' % main)
    if implements(headers, internal) is False:
        raise JarError('class %s does not implement '
                       'org.openstack.storlet.common.IStorlet' % main)
    return main
