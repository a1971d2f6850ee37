/* Chat templates (src/infer/chat.c) against Jinja2: tests/fixtures/chat/cases.json holds
 * conversations (with and without a system message, multi-turn, Unicode and surrounding
 * whitespace, with and without the generation prompt) rendered by tools/gen_chat_fixtures.py
 * through a reference Jinja template per family and through SmolLM2-135M-Instruct's own template;
 * the rendering here must equal each byte for byte. Detection must name the family of every
 * template text there and refuse texts of no known family, naming their start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer/chat.h"

static cJSON *load_cases(void)
{
    const char *fx = getenv("HLM_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/chat/cases.json", fx ? fx : "tests/fixtures");
    FILE *f = fopen(path, "rb");
    if (!f) fprintf(stderr, "%s: cannot open\n", path);
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static size_t get_messages(const cJSON *arr, hlm_chat_message *msgs, size_t cap)
{
    size_t n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, arr)
    {
        assert_true(n < cap);
        msgs[n].role = cJSON_GetObjectItem(m, "role")->valuestring;
        msgs[n].content = cJSON_GetObjectItem(m, "content")->valuestring;
        n++;
    }
    return n;
}

static void test_render_matches_jinja(void **state)
{
    (void)state;
    cJSON *j = load_cases();
    const cJSON *c;
    int n_cases = 0, n_smollm2 = 0, seen[HLM_CHAT_COUNT] = {0};
    hlm_buf out = {0};
    hlm_error err = {0};
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases"))
    {
        hlm_chat_template t;
        assert_int_equal(hlm_chat_template_from_name(cJSON_GetObjectItem(c, "template")->valuestring, &t, &err), HLM_OK);
        hlm_chat_message msgs[16];
        size_t n = get_messages(cJSON_GetObjectItem(c, "messages"), msgs, 16);
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
        const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
        out.len = 0;
        assert_int_equal(hlm_chat_render(t, msgs, n, gen, &out, &err), HLM_OK);
        if (out.len != strlen(want) || memcmp(out.data, want, out.len)) {
            fprintf(stderr, "%s, %s, '%s', generation prompt %d:\n want [%s]\n got  [%.*s]\n",
                    hlm_chat_template_name(t), cJSON_GetObjectItem(c, "source")->valuestring,
                    cJSON_GetObjectItem(c, "title")->valuestring, gen, want, (int)out.len, (const char *)out.data);
            fail();
        }
        n_cases++;
        seen[t]++;
        n_smollm2 += !strcmp(cJSON_GetObjectItem(c, "source")->valuestring, "SmolLM2-135M-Instruct");
    }
    for (int t = 0; t < HLM_CHAT_COUNT; t++) assert_true(seen[t] >= 10);
    printf("%d renderings equal to Jinja2's (%d through SmolLM2's own template)\n", n_cases, n_smollm2);
    hlm_buf_free(&out);
    cJSON_Delete(j);
}

static void test_detect(void **state)
{
    (void)state;
    cJSON *j = load_cases();
    const cJSON *c;
    hlm_error err = {0};
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "detect"))
    {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(c, "template");
        hlm_chat_template t = HLM_CHAT_COUNT;
        hlm_status st = hlm_chat_template_detect(text, strlen(text), &t, &err);
        if (cJSON_IsNull(want)) {
            assert_int_equal(st, HLM_ERR_INVALID);
            char start[32];
            snprintf(start, sizeof start, "%.20s", text);
            assert_non_null(strstr(err.msg, start)); /* the message names the template's start */
            assert_non_null(strstr(err.msg, "--chat-template"));
        } else {
            if (st) fprintf(stderr, "%s: %s\n", cJSON_GetObjectItem(c, "source")->valuestring, err.msg);
            assert_int_equal(st, HLM_OK);
            assert_string_equal(hlm_chat_template_name(t), want->valuestring);
        }
    }
    cJSON_Delete(j);
    /* names: every template by its name; an unknown name lists them */
    for (int t = 0; t < HLM_CHAT_COUNT; t++) {
        hlm_chat_template u;
        assert_int_equal(hlm_chat_template_from_name(hlm_chat_template_name((hlm_chat_template)t), &u, &err), HLM_OK);
        assert_int_equal(u, t);
    }
    hlm_chat_template u;
    assert_int_equal(hlm_chat_template_from_name("vicuna", &u, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'vicuna'"));
    assert_non_null(strstr(err.msg, "chatml"));
}

/* The rendering with the generation prompt is a prefix of the next turn's rendering: what a chat
 * has in its KV cache stays valid. */
static void test_prefix_stable(void **state)
{
    (void)state;
    hlm_chat_message msgs[4] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello there."}, {"user", "Bye"}};
    hlm_buf a = {0}, b = {0};
    hlm_error err = {0};
    for (int t = 0; t < HLM_CHAT_COUNT; t++) {
        for (size_t n = 2; n <= 4; n += 2) {
            a.len = b.len = 0;
            assert_int_equal(hlm_chat_render((hlm_chat_template)t, msgs, n, 1, &a, &err), HLM_OK);
            assert_int_equal(hlm_chat_render((hlm_chat_template)t, msgs, n + (n < 4), n == 4, &b, &err), HLM_OK);
            if (n == 4) continue;
            assert_true(b.len > a.len);
            assert_memory_equal(a.data, b.data, a.len);
        }
        /* the end-of-turn text follows the reply */
        a.len = 0;
        assert_int_equal(hlm_chat_render((hlm_chat_template)t, msgs, 3, 0, &a, &err), HLM_OK);
        assert_non_null(memmem(a.data, a.len, hlm_chat_end_of_turn((hlm_chat_template)t),
                               strlen(hlm_chat_end_of_turn((hlm_chat_template)t))));
    }
    hlm_buf_free(&a);
    hlm_buf_free(&b);
}

static void test_bad_conversations(void **state)
{
    (void)state;
    hlm_buf out = {0};
    hlm_error err = {0};
    hlm_chat_message twice[2] = {{"user", "a"}, {"user", "b"}};
    hlm_chat_message late_system[3] = {{"user", "a"}, {"assistant", "b"}, {"system", "c"}};
    hlm_chat_template strict[3] = {HLM_CHAT_LLAMA2, HLM_CHAT_GEMMA, HLM_CHAT_MISTRAL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hlm_chat_render(strict[i], twice, 2, 1, &out, &err), HLM_ERR_INVALID);
        assert_non_null(strstr(err.msg, "message 2"));
        assert_int_equal(hlm_chat_render(strict[i], late_system, 3, 1, &out, &err), HLM_ERR_INVALID);
        assert_non_null(strstr(err.msg, "'system'"));
    }
    /* the others take any role */
    out.len = 0;
    assert_int_equal(hlm_chat_render(HLM_CHAT_CHATML, late_system, 3, 0, &out, &err), HLM_OK);
    hlm_buf_free(&out);
}

static void test_gguf_info(void **state)
{
    (void)state;
    /* a GGUF file with the three keys, through the writer */
    hlm_gguf_writer *w = NULL;
    hlm_error err = {0};
    char path[] = "/tmp/hlm_test_chat_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hlm_gguf_writer_new(&w, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", 2, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_str(w, "tokenizer.chat_template", "{{ '<|im_start|>' }}", &err), HLM_OK);
    assert_int_equal(hlm_gguf_write(w, path, &err), HLM_OK);
    hlm_gguf_writer_free(w);
    hlm_gguf_chat_info info;
    assert_int_equal(hlm_gguf_read_chat_info_path(path, &info, &err), HLM_OK);
    assert_int_equal(info.eos_id, 2);
    assert_int_equal(info.eot_id, -1);
    assert_string_equal(info.template_text, "{{ '<|im_start|>' }}");
    hlm_gguf_chat_info_free(&info);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_matches_jinja), cmocka_unit_test(test_detect),
        cmocka_unit_test(test_prefix_stable),        cmocka_unit_test(test_bad_conversations),
        cmocka_unit_test(test_gguf_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
