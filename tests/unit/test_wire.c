/* The wire codec and templates: round trips and every bounds check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common.h"

static void test_round_trip(void **state)
{
    (void)state;
    wbuf_t w;
    wb_init(&w);
    wb_u8(&w, 7);
    wb_u32(&w, 0xdeadbeef);
    wb_u64(&w, 0x0102030405060708ULL);
    wb_bytes(&w, "abc", 3);
    size_t len;
    const uint8_t *p = wb_payload(&w, &len);
    assert_int_equal(len, 1 + 4 + 8 + 4 + 3);
    assert_int_equal(p[1], 0xde); /* big-endian on the wire */
    rbuf_t r;
    rb_init(&r, p, len);
    assert_int_equal(rb_u8(&r), 7);
    assert_int_equal(rb_u32(&r), 0xdeadbeef);
    assert_true(rb_u64(&r) == 0x0102030405060708ULL);
    size_t n;
    const uint8_t *s = rb_bytes(&r, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "abc", 3);
    assert_true(rb_done(&r));
    wb_free(&w);
}

static void test_short_reads_latch(void **state)
{
    (void)state;
    uint8_t buf[6] = { 0, 0, 0, 9, 'x', 'y' }; /* claims 9 bytes, has 2 */
    rbuf_t r;
    rb_init(&r, buf, sizeof buf);
    size_t n = 77;
    assert_null(rb_bytes(&r, &n));
    assert_int_equal(n, 0);
    assert_true(r.err);
    assert_int_equal(rb_u32(&r), 0); /* stays failed */
    assert_false(rb_done(&r));
}

static void test_frame_limit(void **state)
{
    (void)state;
    wbuf_t w;
    wb_init(&w);
    assert_null(wb_reserve(&w, WIRE_MAX_FRAME + 1));
    assert_true(w.err);
    wb_free(&w);
}

static void test_template_round_trip(void **state)
{
    (void)state;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_MECHANISM_TYPE mechs[2] = { CKM_SHA256, CKM_SHA512 };
    CK_ATTRIBUTE t[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_TOKEN, &yes, 1 },
        { CKA_LABEL, "lbl", 3 },
        { CKA_ALLOWED_MECHANISMS, mechs, sizeof mechs },
        { CKA_ID, NULL, 0 },
    };
    wbuf_t w;
    wb_init(&w);
    assert_int_equal(proto_put_template(&w, t, 5), CKR_OK);
    size_t len;
    const uint8_t *p = wb_payload(&w, &len);
    rbuf_t r;
    rb_init(&r, p, len);
    CK_ATTRIBUTE *out;
    CK_ULONG n;
    assert_int_equal(proto_get_template(&r, &out, &n), CKR_OK);
    assert_true(rb_done(&r));
    assert_int_equal(n, 5);
    assert_int_equal(*(CK_ULONG *)out[0].pValue, CKO_DATA);
    assert_int_equal(out[1].ulValueLen, 1);
    assert_memory_equal(out[2].pValue, "lbl", 3);
    assert_int_equal(out[3].ulValueLen, sizeof mechs);
    assert_memory_equal(out[3].pValue, mechs, sizeof mechs);
    assert_int_equal(out[4].ulValueLen, 0);
    proto_free_template(out, n);
    wb_free(&w);
}

static void test_template_bad(void **state)
{
    (void)state;
    /* A NULL value with a length is refused before anything is sent. */
    CK_ATTRIBUTE bad = { CKA_LABEL, NULL, 4 };
    wbuf_t w;
    wb_init(&w);
    assert_int_equal(proto_put_template(&w, &bad, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    wb_free(&w);
    /* A count above the limit, and a length past the end, are refused. */
    uint8_t many[4] = { 0, 0, 0x10, 0 };
    rbuf_t r;
    CK_ATTRIBUTE *out;
    CK_ULONG n;
    rb_init(&r, many, sizeof many);
    assert_int_equal(proto_get_template(&r, &out, &n), CKR_ARGUMENTS_BAD);
    uint8_t past[] = { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 200, 'a' };
    rb_init(&r, past, sizeof past);
    assert_int_equal(proto_get_template(&r, &out, &n), CKR_ARGUMENTS_BAD);
}

/* An attribute array goes on the wire as a template of its own; the daemon
   keeps it encoded, the module answers from the encoding; every truncation
   is refused. */
static void test_attr_array(void **state)
{
    (void)state;
    CK_KEY_TYPE aes = CKK_AES;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE inner[] = { { CKA_KEY_TYPE, &aes, sizeof aes }, { CKA_SENSITIVE, &yes, 1 } };
    CK_ATTRIBUTE outer[] = { { CKA_UNWRAP_TEMPLATE, inner, sizeof inner } };
    wbuf_t w;
    wb_init(&w);
    assert_int_equal(proto_put_template(&w, outer, 1), CKR_OK);
    size_t len;
    const uint8_t *p = wb_payload(&w, &len);
    rbuf_t r;
    rb_init(&r, p, len);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    assert_int_equal(proto_get_template(&r, &t, &n), CKR_OK);
    assert_int_equal(n, 1);
    /* u32 count + 2 × (u64 type + u32 length) + 8 + 1 value bytes */
    assert_int_equal(t[0].ulValueLen, 4 + 2 * 12 + 8 + 1);
    assert_int_equal(proto_check_attr_array(t[0].pValue, t[0].ulValueLen), CKR_OK);
    for (CK_ULONG cut = 1; cut < t[0].ulValueLen; cut++)
        assert_int_equal(proto_check_attr_array(t[0].pValue, cut), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE q = { CKA_UNWRAP_TEMPLATE, NULL, 0 };
    assert_int_equal(proto_get_attr_array(t[0].pValue, t[0].ulValueLen, &q), CKR_OK);
    assert_int_equal(q.ulValueLen, 2 * sizeof(CK_ATTRIBUTE));
    CK_KEY_TYPE kt = 0;
    CK_BBOOL b = 0;
    CK_ATTRIBUTE arr[2] = { { 0, &kt, sizeof kt }, { 0, &b, 1 } };
    q.pValue = arr;
    assert_int_equal(proto_get_attr_array(t[0].pValue, t[0].ulValueLen, &q), CKR_OK);
    assert_int_equal(arr[0].type, CKA_KEY_TYPE);
    assert_int_equal(kt, CKK_AES);
    assert_int_equal(arr[1].type, CKA_SENSITIVE);
    assert_int_equal(b, CK_TRUE);
    proto_free_template(t, n);
    /* No arrays inside arrays. */
    CK_ATTRIBUTE nest[] = { { CKA_WRAP_TEMPLATE, outer, sizeof outer } };
    wb_reset(&w);
    assert_int_equal(proto_put_template(&w, nest, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    wb_free(&w);
}

static void test_hmap(void **state)
{
    (void)state;
    hmap_t m;
    hmap_init(&m);
    static int vals[2000];
    for (int i = 0; i < 2000; i++)
        assert_int_equal(hmap_put(&m, (uint64_t)i * 7919, &vals[i]), 0);
    for (int i = 0; i < 2000; i += 2)
        assert_ptr_equal(hmap_del(&m, (uint64_t)i * 7919), &vals[i]);
    for (int i = 0; i < 2000; i++)
        assert_ptr_equal(hmap_get(&m, (uint64_t)i * 7919), i % 2 ? &vals[i] : NULL);
    assert_int_equal(m.count, 1000);
    hmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_short_reads_latch),
        cmocka_unit_test(test_frame_limit),
        cmocka_unit_test(test_template_round_trip),
        cmocka_unit_test(test_template_bad),
        cmocka_unit_test(test_attr_array),
        cmocka_unit_test(test_hmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
