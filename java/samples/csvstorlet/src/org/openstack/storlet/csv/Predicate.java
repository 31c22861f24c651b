package org.openstack.storlet.csv;

/**
 * A condition on a CSV record's columns. Immutable, so one parsed
 * {@code where_clause} can be shared by threads.
 */
abstract class Predicate {

    /** Does the record, split into columns, match? */
    abstract boolean matches(String[] columns);

    /** The comparisons a leaf can make, by their where_clause names. */
    enum Comparison {
        EQUAL_TO("EqualTo"),
        NOT_EQUAL_TO("NotEqualTo"),
        STRING_STARTS_WITH("StringStartsWith"),
        STRING_ENDS_WITH("StringEndsWith"),
        STRING_CONTAINS("StringContains");

        final String label;

        Comparison(String label) {
            this.label = label;
        }

        static Comparison byLabel(String label) {
            for (Comparison c : values()) {
                if (c.label.equals(label)) {
                    return c;
                }
            }
            return null;
        }

        boolean test(String actual, String value) {
            switch (this) {
                case EQUAL_TO: return actual.equals(value);
                case NOT_EQUAL_TO: return !actual.equals(value);
                case STRING_STARTS_WITH: return actual.startsWith(value);
                case STRING_ENDS_WITH: return actual.endsWith(value);
                default: return actual.contains(value);
            }
        }
    }

    /**
     * {@code column <comparison> value}; false for a record that has no
     * such column (whatever the comparison).
     */
    static Predicate leaf(final Comparison comparison, final int column,
                          final String value) {
        return new Predicate() {
            @Override
            boolean matches(String[] columns) {
                return column < columns.length
                    && comparison.test(columns[column], value);
            }

            @Override
            public String toString() {
                return comparison.label + "(" + column + "," + value + ")";
            }
        };
    }

    static Predicate and(final Predicate left, final Predicate right) {
        return new Predicate() {
            @Override
            boolean matches(String[] columns) {
                return left.matches(columns) && right.matches(columns);
            }

            @Override
            public String toString() {
                return "And(" + left + "," + right + ")";
            }
        };
    }

    static Predicate or(final Predicate left, final Predicate right) {
        return new Predicate() {
            @Override
            boolean matches(String[] columns) {
                return left.matches(columns) || right.matches(columns);
            }

            @Override
            public String toString() {
                return "Or(" + left + "," + right + ")";
            }
        };
    }
}
