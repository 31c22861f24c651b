package org.openstack.storlet.csv;

import java.nio.charset.StandardCharsets;

/**
 * Parses a {@code where_clause} into a {@link Predicate}.
 *
 * <pre>
 * where_clause := predicate ( spaces predicate )*     -- all must match
 * predicate    := And(predicate,predicate) | Or(predicate,predicate)
 *               | Comparison(column,value)
 * Comparison   := EqualTo | NotEqualTo | StringStartsWith
 *               | StringEndsWith | StringContains
 * column       := 0-based column index
 * value        := any characters but ')', taken as they are
 * </pre>
 * Spaces are allowed around predicates and column indexes. Before parsing,
 * every {@code XYZYX} is replaced by a space (a way to put spaces in
 * values through URLs and headers). Names are case-sensitive.
 *
 * <p>Records are compared as bytes: {@link CSVStorlet} decodes them as
 * ISO-8859-1 (one char per byte), so each value is turned into the same
 * view of its UTF-8 bytes.
 */
final class WhereClause {
    static final String SPACE_TOKEN = "XYZYX";

    private final String text;
    private int pos;

    private WhereClause(String text) {
        this.text = text;
    }

    /**
     * The predicate {@code clause} describes, or null for a null or blank
     * clause (every record matches).
     *
     * @throws IllegalArgumentException with a message saying what is wrong
     *         and where
     */
    static Predicate parse(String clause) {
        if (clause == null) {
            return null;
        }
        WhereClause parser = new WhereClause(clause.replace(SPACE_TOKEN, " "));
        parser.skipSpaces();
        if (parser.atEnd()) {
            return null;
        }
        Predicate result = parser.predicate();
        parser.skipSpaces();
        while (!parser.atEnd()) {
            result = Predicate.and(result, parser.predicate());
            parser.skipSpaces();
        }
        return result;
    }

    private Predicate predicate() {
        skipSpaces();
        int nameAt = pos;
        while (!atEnd() && Character.isLetter(text.charAt(pos))) {
            pos++;
        }
        String name = text.substring(nameAt, pos);
        if (name.isEmpty()) {
            throw error("expected a predicate name", nameAt);
        }
        expect('(');
        Predicate result;
        if (name.equals("And") || name.equals("Or")) {
            Predicate left = predicate();
            skipSpaces();
            expect(',');
            Predicate right = predicate();
            skipSpaces();
            result = name.equals("And") ? Predicate.and(left, right)
                                        : Predicate.or(left, right);
        } else {
            Predicate.Comparison comparison =
                Predicate.Comparison.byLabel(name);
            if (comparison == null) {
                throw error("unknown predicate '" + name + "'", nameAt);
            }
            int column = column();
            expect(',');
            int valueAt = pos;
            while (!atEnd() && text.charAt(pos) != ')') {
                pos++;
            }
            result = Predicate.leaf(comparison, column,
                                    byteView(text.substring(valueAt, pos)));
        }
        expect(')');
        return result;
    }

    /** {@code s}'s UTF-8 bytes, one char per byte. */
    static String byteView(String s) {
        return new String(s.getBytes(StandardCharsets.UTF_8),
                          StandardCharsets.ISO_8859_1);
    }

    private int column() {
        skipSpaces();
        int at = pos;
        while (!atEnd() && text.charAt(pos) >= '0' && text.charAt(pos) <= '9') {
            pos++;
        }
        if (at == pos) {
            throw error("expected a column index", at);
        }
        int column;
        try {
            column = Integer.parseInt(text.substring(at, pos));
        } catch (NumberFormatException e) {
            throw error("column index too large", at);
        }
        skipSpaces();
        return column;
    }

    private void expect(char c) {
        if (atEnd() || text.charAt(pos) != c) {
            throw error("expected '" + c + "'", pos);
        }
        pos++;
    }

    private void skipSpaces() {
        while (!atEnd() && Character.isWhitespace(text.charAt(pos))) {
            pos++;
        }
    }

    private boolean atEnd() {
        return pos >= text.length();
    }

    private IllegalArgumentException error(String what, int at) {
        return new IllegalArgumentException(
            what + " at position " + at + " of '" + text + "'"
            + (at >= text.length() ? " (end of clause)" : ""));
    }
}
