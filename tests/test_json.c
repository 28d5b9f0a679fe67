/*
** test_json.c -- the kit's JSON codec: round trips, escapes and unicode,
** numbers at the edges, compact and indented output, encoder errors, and a
** table of malformed inputs whose errors must name line, column and what
** was expected; hostile nesting is refused at the depth limit.
*/
#include <math.h>
#include <stdlib.h>

#include "test_kit_util.h"

/* Decode text, encode compactly, return the text (static) or the error. */
static const char *roundtrip(rcgc_kit *kit, const char *text, const rcgc_json_options *opt)
{
    static char out[8192];
    void *v;
    rcgc_json_error err;
    rcgc_status st = rcgc_json_decode(kit, text, strlen(text), opt, &v, &err);
    if (st != RCGC_OK) {
        snprintf(out, sizeof out, "ERROR %s", err.message);
        return out;
    }
    rcgc_kit_buf b;
    rcgc_kit_buf_init_fixed(&b, out, sizeof out);
    st = rcgc_json_encode(v, &b, opt, &err);
    if (st != RCGC_OK)
        snprintf(out, sizeof out, "ENCODE ERROR %s", err.message);
    rcgc_unref(v);
    return out;
}

TEST(json_roundtrips_values)
{
    kt_env e = kt_open();
    static const char *same[] = {
        "null", "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808",
        "1.5", "1e+16", "0.1", "-0.0", "5e-324", "1.7976931348623157e+308", "\"\"",
        "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\"", "[]", "{}", "[1,[2,[3,{}]]]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"", "\"\\u0000\"",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        CHECK_EQ_STR(roundtrip(e.kit, same[i], NULL), same[i]);
    /* canonical forms */
    CHECK_EQ_STR(roundtrip(e.kit, " [ 1 , 2 ] ", NULL), "[1,2]");
    CHECK_EQ_STR(roundtrip(e.kit, "1E2", NULL), "100.0");
    CHECK_EQ_STR(roundtrip(e.kit, "-0", NULL), "0");
    CHECK_EQ_STR(roundtrip(e.kit, "1.0e-400", NULL), "0.0");
    CHECK_EQ_STR(roundtrip(e.kit, "\"\\/\\u00e9\\ud83d\\ude00\"", NULL),
                 "\"/\xc3\xa9\xf0\x9f\x98\x80\"");
    CHECK_EQ_STR(roundtrip(e.kit, "{\"a\":1,\"a\":2}", NULL), "{\"a\":2}");
    CHECK_EQ_STR(roundtrip(e.kit, "\"\x7f\"", NULL), "\"\x7f\"");
    rcgc_json_options opt;
    rcgc_json_options_init(&opt);
    opt.ascii = true;
    CHECK_EQ_STR(roundtrip(e.kit, "\"h\xc3\xa9 \xf0\x9f\x98\x80\"", &opt),
                 "\"h\\u00e9 \\ud83d\\ude00\"");
    kt_close(&e);
}

TEST(json_indented_output_is_pythons)
{
    kt_env e = kt_open();
    rcgc_json_options opt;
    rcgc_json_options_init(&opt);
    opt.indent = 2;
    CHECK_EQ_STR(roundtrip(e.kit, "{\"a\":[1,2],\"b\":{},\"c\":[]}", &opt),
                 "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}");
    CHECK_EQ_STR(roundtrip(e.kit, "5", &opt), "5");
    kt_close(&e);
}

TEST(json_encodes_non_str_keys_like_python)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit);
    rcgc_dict_set_take(d, rcgc_int_new(e.kit, 7), rcgc_int_new(e.kit, 1));
    rcgc_dict_set_take(d, rcgc_float_new(e.kit, 2.5), rcgc_int_new(e.kit, 2));
    rcgc_dict_set(d, rcgc_kit_true(e.kit), rcgc_kit_none(e.kit));
    rcgc_dict_set(d, rcgc_kit_none(e.kit), rcgc_kit_false(e.kit));
    rcgc_kit_buf b;
    rcgc_kit_buf_init(&b, e.heap);
    CHECK_EQ_INT(rcgc_json_encode(d, &b, NULL, NULL), RCGC_OK);
    CHECK_EQ_STR(b.data, "{\"7\":1,\"2.5\":2,\"true\":null,\"null\":false}");
    rcgc_kit_buf_fini(&b);
    rcgc_unref(d);
    kt_close(&e);
}

TEST(json_encoder_refuses_what_json_cannot_say)
{
    kt_env e = kt_open();
    rcgc_kit_buf b;
    rcgc_json_error err;
    rcgc_kit_buf_init(&b, e.heap);
    void *nan = rcgc_float_new(e.kit, NAN), *inf = rcgc_float_new(e.kit, -INFINITY);
    CHECK_EQ_INT(rcgc_json_encode(nan, &b, NULL, &err), RCGC_EINVAL);
    CHECK_CONTAINS(err.message, "non-finite float nan");
    void *l = rcgc_list_new(e.kit, 0);
    rcgc_list_append(l, inf);
    CHECK_EQ_INT(rcgc_json_encode(l, &b, NULL, &err), RCGC_EINVAL);
    CHECK_CONTAINS(err.message, "-inf");
    void *by = rcgc_bytes_new(e.kit, "x", 1);
    CHECK_EQ_INT(rcgc_json_encode(by, &b, NULL, &err), RCGC_EINVAL);
    CHECK_CONTAINS(err.message, "object of type bytes is not JSON serializable");
    void *d = rcgc_dict_new(e.kit);
    rcgc_dict_set(d, by, by);
    CHECK_EQ_INT(rcgc_json_encode(d, &b, NULL, &err), RCGC_EINVAL);
    CHECK_CONTAINS(err.message, "keys must be str, int, float, bool or None, not bytes");
    /* a list containing itself: caught by the depth limit */
    void *self = rcgc_list_new(e.kit, 0);
    rcgc_list_append(self, self);
    CHECK_EQ_INT(rcgc_json_encode(self, &b, NULL, &err), RCGC_EINVAL);
    CHECK_CONTAINS(err.message, "nesting deeper than 512 levels");
    /* a fixed buffer too small reports the size needed */
    char small[4];
    void *s = rcgc_str_new_cstr(e.kit, "abcdef");
    rcgc_kit_buf fb;
    rcgc_kit_buf_init_fixed(&fb, small, sizeof small);
    CHECK_EQ_INT(rcgc_json_encode(s, &fb, NULL, &err), RCGC_ENOMEM);
    CHECK_EQ_U64(fb.len, 8);
    CHECK_CONTAINS(err.message, "needs 9 bytes");
    rcgc_kit_buf_fini(&b);
    void *objs[] = {nan, inf, l, by, d, self, s};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        rcgc_unref(objs[i]);
    kt_close(&e);
}

/* Malformed inputs: the status, and the message with line and column. */
static const struct {
    const char *text;
    const char *message;
} bad_inputs[] = {
    {"", "line 1, column 1: expected a value (object, array, string, number, true, false or "
         "null), found end of input"},
    {"   ", "line 1, column 4: expected a value"},
    {"[1,]", "line 1, column 4: expected a value (object, array, string, number, true, false "
             "or null), found ']'"},
    {"{\"a\":1,}", "line 1, column 8: expected a string (an object member name in double "
                   "quotes), found '}'"},
    {"{\"a\" 1}", "line 1, column 6: expected ':' after an object member name, found '1'"},
    {"{1:2}", "line 1, column 2: expected a string"},
    {"[1 2]", "line 1, column 4: expected ',' or ']' after an array element, found '2'"},
    {"{\"a\":1]", "line 1, column 7: expected ',' or '}' after an object member, found ']'"},
    {"[\n  1,\n  2\n", "line 4, column 1: expected ',' or ']' after an array element, found "
                       "end of input"},
    {"{\n\"k\": tru}", "line 2, column 6: invalid literal: expected 'true'"},
    {"nul", "line 1, column 1: invalid literal: expected 'null'"},
    {"NaN", "line 1, column 1: expected a value (object, array, string, number, true, false or "
            "null), found 'N'"},
    {"Infinity", "line 1, column 1: expected a value"},
    {"01", "line 1, column 1: leading zeros are not allowed in numbers"},
    {"-", "line 1, column 2: expected a digit after '-', found end of input"},
    {"-a", "line 1, column 2: expected a digit after '-', found 'a'"},
    {"1.", "line 1, column 3: expected a digit after the decimal point, found end of input"},
    {"1.e5", "line 1, column 3: expected a digit after the decimal point, found 'e'"},
    {"1e", "line 1, column 3: expected a digit in the exponent, found end of input"},
    {"1e+", "line 1, column 4: expected a digit in the exponent"},
    {".5", "line 1, column 1: expected a value"},
    {"+1", "line 1, column 1: expected a value"},
    {"9223372036854775808", "line 1, column 1: integer out of the 64-bit range"},
    {"-9223372036854775809", "line 1, column 1: integer out of the 64-bit range"},
    {"1e400", "line 1, column 1: number out of the range of a double"},
    {"-1e400", "line 1, column 1: number out of the range of a double"},
    {"\"abc", "line 1, column 1: unterminated string: expected a closing '\"'"},
    {"[\"a\tb\"]", "line 1, column 4: control character U+0009 in a string (escape it as "
                   "\\u0009)"},
    {"\"\\x41\"", "line 1, column 3: invalid escape: expected one of"},
    {"\"\\u12G4\"", "line 1, column 6: expected 4 hex digits after \\u, found 'G'"},
    {"\"\\ud800\"", "line 1, column 2: lone high surrogate \\uD800"},
    {"\"\\ud800\\u0041\"", "line 1, column 2: lone high surrogate"},
    {"\"\\udc00\"", "line 1, column 2: lone low surrogate \\uDC00"},
    {"\"\xff\"", "line 1, column 2: invalid UTF-8 (byte 0xFF) in a string"},
    {"\"\xc0\xaf\"", "line 1, column 2: invalid UTF-8 (byte 0xC0)"},
    {"\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8 (byte 0xED)"},
    {"\xef\xbb\xbf{}", "line 1, column 1: a UTF-8 byte order mark is not allowed"},
    {"{} {}", "line 1, column 4: expected the end of input after the JSON value, found '{'"},
    {"1 2", "line 1, column 3: expected the end of input after the JSON value, found '2'"},
    {"[1] x", "line 1, column 5: expected the end of input"},
    {"/* c */ 1", "line 1, column 1: expected a value"},
    {"['a']", "line 1, column 2: expected a value (object, array, string, number, true, false "
              "or null), found '''"},
    {"\"\xc3\xa9\xc3\xa9\" x", "line 1, column 6: expected the end of input"},
    {"\x01", "line 1, column 1: expected a value (object, array, string, number, true, false "
             "or null), found U+0001"},
    {"[\xc3\xa9]", "line 1, column 2: expected a value (object, array, string, number, true, "
                   "false or null), found byte 0xC3"},
};

TEST(json_errors_name_line_column_and_expectation)
{
    kt_env e = kt_open();
    for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
        void *v = (void *)1;
        rcgc_json_error err;
        rcgc_status st = rcgc_json_decode(e.kit, bad_inputs[i].text, strlen(bad_inputs[i].text),
                                          NULL, &v, &err);
        CHECK_EQ_INT(st, RCGC_EFORMAT);
        CHECK(v == NULL);
        CHECK_CONTAINS(err.message, bad_inputs[i].message);
        if (th_failures) {
            fprintf(stderr, "  input #%zu: %s\n", i, bad_inputs[i].text);
            break;
        }
    }
    /* the offset counts bytes, the column characters */
    void *v;
    rcgc_json_error err;
    const char *t = "[\"\xc3\xa9\", x]";
    rcgc_json_decode(e.kit, t, strlen(t), NULL, &v, &err);
    CHECK_EQ_U64(err.line, 1);
    CHECK_EQ_U64(err.column, 7);
    CHECK_EQ_U64(err.offset, 7);
    /* embedded NUL: the length decides, not the terminator */
    CHECK_EQ_INT(rcgc_json_decode(e.kit, "[1]\0", 4, NULL, &v, &err), RCGC_EFORMAT);
    CHECK_CONTAINS(err.message, "found U+0000");
    kt_close(&e);
}

TEST(json_depth_limit_refuses_hostile_nesting)
{
    kt_env e = kt_open();
    enum { DEEP = 100000 };
    char *text = malloc(2 * DEEP + 1);
    memset(text, '[', DEEP);
    memset(text + DEEP, ']', DEEP);
    text[2 * DEEP] = 0;
    void *v;
    rcgc_json_error err;
    CHECK_EQ_INT(rcgc_json_decode(e.kit, text, 2 * DEEP, NULL, &v, &err), RCGC_EFORMAT);
    CHECK_CONTAINS(err.message, "line 1, column 513: nesting deeper than 512 levels");
    /* exactly the limit is fine, both ways */
    rcgc_json_options opt;
    rcgc_json_options_init(&opt);
    CHECK_EQ_INT(rcgc_json_decode(e.kit, text + DEEP - 512, 1024, &opt, &v, &err), RCGC_OK);
    rcgc_kit_buf b;
    rcgc_kit_buf_init(&b, e.heap);
    CHECK_EQ_INT(rcgc_json_encode(v, &b, &opt, &err), RCGC_OK);
    CHECK_EQ_U64(b.len, 1024);
    rcgc_kit_buf_fini(&b);
    rcgc_unref(v);
    /* a raised limit takes the whole document without deep C recursion */
    opt.max_depth = DEEP;
    CHECK_EQ_INT(rcgc_json_decode(e.kit, text, 2 * DEEP, &opt, &v, &err), RCGC_OK);
    CHECK_EQ_INT(rcgc_json_encode(v, &b, &opt, &err), RCGC_EINVAL); /* recursion cap */
    CHECK_CONTAINS(err.message, "nesting deeper than 1000 levels");
    rcgc_kit_buf_fini(&b);
    rcgc_unref(v); /* the trashcan frees the 100000-deep chain */
    /* unclosed deep nesting frees every open container */
    CHECK_EQ_INT(rcgc_json_decode(e.kit, text, DEEP, &opt, &v, &err), RCGC_EFORMAT);
    CHECK_CONTAINS(err.message, "found end of input");
    memset(text, '{', 10);
    CHECK_EQ_INT(rcgc_json_decode(e.kit, text, 10, &opt, &v, &err), RCGC_EFORMAT);
    free(text);
    const char *objs = "{\"a\":{\"b\":{\"c\":[1,{\"d\":";
    CHECK_EQ_INT(rcgc_json_decode(e.kit, objs, strlen(objs), NULL, &v, &err), RCGC_EFORMAT);
    kt_close(&e);
}

TEST(json_decoded_containers_follow_the_tracking_rules)
{
    kt_env e = kt_open();
    const char *t = "{\"atomic\":{\"a\":1,\"b\":\"x\"},\"list\":[1,2],\"holder\":{\"l\":[]}}";
    void *v;
    CHECK_EQ_INT(rcgc_json_decode(e.kit, t, strlen(t), NULL, &v, NULL), RCGC_OK);
    CHECK(rcgc_is_tracked(v));
    CHECK(!rcgc_is_tracked(rcgc_dict_get_cstr(e.kit, v, "atomic")));
    CHECK(rcgc_is_tracked(rcgc_dict_get_cstr(e.kit, v, "list")));
    CHECK(rcgc_is_tracked(rcgc_dict_get_cstr(e.kit, v, "holder")));
    CHECK_EQ_STR(kt_repr(v), "{'atomic': {'a': 1, 'b': 'x'}, 'list': [1, 2], 'holder': {'l': []}}");
    rcgc_unref(v);
    kt_close(&e);
}
