/* recipe.c - load, resolve and validate training recipes (see recipe.h). */
#include "recipe.h"

#include <cJSON.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/common.h"
#include "../methods/method.h"

int recipe_path(const char *task, const char *profile, char *out, int n) {
    const char *env = getenv("DB_RECIPES");
    char dir[PATH_MAX];
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else {
        char exe[PATH_MAX];
        ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (k <= 0) return err_set("cannot locate the executable to find experiments/recipes");
        exe[k] = 0;
        snprintf(dir, sizeof dir, "%s/../experiments/recipes", dirname(exe));
    }
    snprintf(out, n, "%s/%s_%s.json", dir, task, profile);
    if (!file_exists(out)) return err_set("%s: no recipe for task '%s' profile '%s' (profiles are the files in %s)", out, task, profile, dir);
    return 0;
}

/* replace ${NAME} in s; unknown or unset variables are errors */
static int substitute(const char *s, const recipe_vars *v, char *out, int n, const char *where) {
    int k = 0;
    while (*s && k < n - 1) {
        if (s[0] == '$' && s[1] == '{') {
            const char *e = strchr(s, '}');
            if (!e) return err_set("%s: unterminated ${ in \"%s\"", where, s);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(e - s - 2), s + 2);
            const char *val = NULL;
            if (!strcmp(name, "DATA_ROOT")) val = v ? v->data_root : NULL;
            else if (!strcmp(name, "PRETRAINED")) val = v ? v->pretrained : NULL;
            else if (!strcmp(name, "CACHE")) val = v && v->cache ? v->cache : "cache";
            else if (!strncmp(name, "PRETRAINED_", 11) && name[11]) { /* more checkpoints (the ablations' Swin-T/B/L): the environment */
                val = getenv(name);
                if (!val || !*val)
                    return err_set("%s: this recipe needs %s, a released checkpoint (set the variable: e.g. make reproduce-voc-ablations "
                                   "PROFILE=paper %s=swin_tiny_patch4_window7_224_22k.pth)",
                                   where, name, name);
            } else return err_set("%s: unknown variable ${%s} (known: DATA_ROOT, PRETRAINED, PRETRAINED_<NAME>, CACHE)", where, name);
            if (!val || !*val)
                return err_set("%s: this recipe needs %s (give --%s or set the variable: e.g. make reproduce-cls PROFILE=paper "
                               "DATA_ROOT=/data PRETRAINED=swin_large_patch4_window7_224_22k.pth)",
                               where, name, !strcmp(name, "DATA_ROOT") ? "data-root" : "pretrained");
            k += snprintf(out + k, n - k, "%s", val);
            s = e + 1;
        } else
            out[k++] = *s++;
    }
    out[k < n ? k : n - 1] = 0;
    return 0;
}

/* a key given twice in one object: cJSON keeps both and lookups see the first, so the second would be
 * silently ignored (and the stored recipe would never compare equal on resume) */
static int check_duplicates(const cJSON *o, const char *path, const char *where) {
    for (const cJSON *a = o ? o->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(o) && a->string)
            for (const cJSON *b = o->child; b != a; b = b->next)
                if (b->string && !strcmp(a->string, b->string))
                    return err_set("%s: \"%s\" is given twice%s%s", path, a->string, *where ? " in " : "", where);
        if (cJSON_IsObject(a) || cJSON_IsArray(a)) {
            char w[512];
            if (cJSON_IsArray(o)) {
                int i = 0;
                for (const cJSON *b = o->child; b != a; b = b->next) i++;
                snprintf(w, sizeof w, "%s[%d]", where, i);
            } else
                snprintf(w, sizeof w, "%s%s\"%s\"", where, *where ? "." : "", a->string ? a->string : "");
            if (check_duplicates(a, path, w)) return -1;
        }
    }
    return 0;
}

int recipe_substitute(const char *s, const recipe_vars *v, char *out, int n, const char *where) { return substitute(s, v, out, n, where); }

static int get_str(const cJSON *o, const char *key, char *out, int n, const recipe_vars *v, const char *where, int required) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) return err_set("%s: missing \"%s\"", where, key);
        out[0] = 0;
        return 0;
    }
    if (!cJSON_IsString(it)) return err_set("%s: \"%s\" must be a string", where, key);
    char w[1400];
    snprintf(w, sizeof w, "%s: \"%s\"", where, key);
    return substitute(it->valuestring, v, out, n, w);
}

static int get_num(const cJSON *o, const char *key, double *out, double def, int required, const char *where) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) return err_set("%s: missing \"%s\"", where, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it)) return err_set("%s: \"%s\" must be a number", where, key);
    *out = it->valuedouble;
    return 0;
}

int recipe_load(const char *path, const recipe_vars *vars, recipe *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    size_t n;
    char *text = file_read_all(path, &n);
    if (!text) return -1;
    r->json = cJSON_Parse(text);
    if (!r->json) {
        const char *e = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = text; e && p < e && *p; p++) line += *p == '\n';
        free(text);
        return err_set("%s:%d: not valid JSON", path, line);
    }
    free(text);
    if (check_duplicates(r->json, path, "")) goto fail;
    const cJSON *j = r->json;
    const char *w = path;
    double d = 0;
#define NUM(field, key, def, req)                                                                                      \
    if (get_num(j, key, &d, def, req, w)) goto fail;                                                                   \
    r->field = d;
    if (get_str(j, "task", r->task, sizeof r->task, vars, w, 1) || get_str(j, "profile", r->profile, sizeof r->profile, vars, w, 1) ||
        get_str(j, "description", r->description, sizeof r->description, vars, w, 0) ||
        get_str(j, "backbone", r->backbone, sizeof r->backbone, vars, w, 1) ||
        get_str(j, "pretrained", r->pretrained, sizeof r->pretrained, vars, w, 0) ||
        get_str(j, "pretrain_recipe", r->pretrain_recipe, sizeof r->pretrain_recipe, vars, w, 0) ||
        get_str(j, "output", r->output, sizeof r->output, vars, w, 0))
        goto fail;
    {
        char runner[16] = "";
        if (get_str(j, "runner", runner, sizeof runner, vars, w, 0)) goto fail;
        if (*runner && strcmp(runner, "iter") && strcmp(runner, "epoch")) {
            err_set("%s: \"runner\" must be \"epoch\" (EpochBasedRunner, the default) or \"iter\" (IterBasedRunner), got \"%s\"", w, runner);
            goto fail;
        }
        r->iter_based = !strcmp(runner, "iter");
    }
    NUM(img_size, "img_size", 224, 1) NUM(test_resize, "test_resize", 0, 0) NUM(batch, "batch", 16, 1) NUM(epochs, "epochs", 1, !r->iter_based);
    NUM(eval_interval_iters, "eval_interval_iters", 0, 0);
    NUM(max_iters, "max_iters", 0, 0) NUM(max_eval_batches, "max_eval_batches", 0, 0) NUM(eval_interval_epochs, "eval_interval_epochs", 1, 0);
    NUM(ckpt_interval_iters, "checkpoint_interval_iters", 200, 0) NUM(workers, "workers", 2, 0) NUM(threads, "threads", 0, 0);
    NUM(grad_clip, "grad_clip", 0, 0) NUM(drop_path, "drop_path_rate", 0, 0);
    if (get_num(j, "seed", &d, 0, 0, w)) goto fail;
    r->seed = (uint64_t)d;
    r->crop_scale[0] = 0.08, r->crop_scale[1] = 1.0;
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "crop_scale");
    if (cs) {
        if (!cJSON_IsArray(cs) || cJSON_GetArraySize(cs) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(cs, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(cs, 1))) {
            err_set("%s: \"crop_scale\" must be [min, max], the RandomResizedCrop area range", w);
            goto fail;
        }
        r->crop_scale[0] = cJSON_GetArrayItem(cs, 0)->valuedouble, r->crop_scale[1] = cJSON_GetArrayItem(cs, 1)->valuedouble;
        if (!(r->crop_scale[0] > 0 && r->crop_scale[0] <= r->crop_scale[1] && r->crop_scale[1] <= 1)) {
            err_set("%s: \"crop_scale\" [%g, %g] needs 0 < min <= max <= 1", w, r->crop_scale[0], r->crop_scale[1]);
            goto fail;
        }
    }
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(j, "optimizer");
    if (!cJSON_IsObject(opt)) {
        err_set("%s: missing \"optimizer\" object", w);
        goto fail;
    }
    {
        char wo[1100];
        snprintf(wo, sizeof wo, "%s: optimizer", w);
        if (get_num(opt, "lr", &r->lr, 0, 1, wo) || get_num(opt, "weight_decay", &r->weight_decay, 0.01, 0, wo) ||
            get_num(opt, "eps", &r->eps, 1e-8, 0, wo))
            goto fail;
        const cJSON *betas = cJSON_GetObjectItemCaseSensitive(opt, "betas");
        r->beta1 = 0.9, r->beta2 = 0.999;
        if (betas) {
            if (!cJSON_IsArray(betas) || cJSON_GetArraySize(betas) != 2) {
                err_set("%s: \"betas\" must be [beta1, beta2]", wo);
                goto fail;
            }
            r->beta1 = cJSON_GetArrayItem(betas, 0)->valuedouble;
            r->beta2 = cJSON_GetArrayItem(betas, 1)->valuedouble;
        }
    }
    if (r->iter_based && r->max_iters < 1) {
        err_set("%s: an iteration-based recipe (\"runner\": \"iter\") needs \"max_iters\" >= 1", w);
        goto fail;
    }
    r->lr_config = cJSON_GetObjectItemCaseSensitive(j, "lr_config");
    r->paramwise = cJSON_GetObjectItemCaseSensitive(j, "paramwise_cfg");
    r->lr_mult = cJSON_GetObjectItemCaseSensitive(j, "lr_mult");
    r->control = cJSON_GetObjectItemCaseSensitive(j, "control");
    if (!cJSON_IsObject(r->lr_config)) {
        err_set("%s: missing \"lr_config\" object (mmcv lr_config)", w);
        goto fail;
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(j, "datasets"), *it;
    if (!cJSON_IsArray(ds) || cJSON_GetArraySize(ds) < 1) {
        err_set("%s: \"datasets\" must be a non-empty array", w);
        goto fail;
    }
    cJSON_ArrayForEach(it, ds) {
        if (r->n_datasets == RECIPE_MAX_DATASETS) {
            err_set("%s: more than %d datasets", w, RECIPE_MAX_DATASETS);
            goto fail;
        }
        recipe_dataset *rd = &r->datasets[r->n_datasets];
        char wd[1100];
        snprintf(wd, sizeof wd, "%s: datasets[%d]", w, r->n_datasets);
        if (get_str(it, "key", rd->key, sizeof rd->key, vars, wd, 1) || get_str(it, "format", rd->format, sizeof rd->format, vars, wd, 1) ||
            get_str(it, "root", rd->root, sizeof rd->root, vars, wd, 1) || get_str(it, "synth", rd->synth, sizeof rd->synth, vars, wd, 0))
            goto fail;
        r->n_datasets++;
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "methods");
    if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) < 1) {
        err_set("%s: \"methods\" must be a non-empty array of method names", w);
        goto fail;
    }
    /* "method_options": {"mona": "width=4", ...}: the options a plainly named method takes in this recipe (an
     * embedded default scales the widths to its small backbone); its run key stays the plain name, and the
     * results record the full spec. A method written with options keeps exactly those. */
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(j, "method_options");
    if (mo && !cJSON_IsObject(mo)) {
        err_set("%s: \"method_options\" must be an object of \"method\": \"key=value[:key=value...]\"", w);
        goto fail;
    }
    cJSON_ArrayForEach(it, ms) {
        if (!cJSON_IsString(it) || r->n_methods == RECIPE_MAX_METHODS) {
            err_set("%s: \"methods\" must hold at most %d names", w, RECIPE_MAX_METHODS);
            goto fail;
        }
        char text[RECIPE_METHOD_MAX];
        const cJSON *opt = strchr(it->valuestring, ':') ? NULL : cJSON_GetObjectItemCaseSensitive(mo, it->valuestring);
        if (opt && !cJSON_IsString(opt)) {
            err_set("%s: method_options.%s must be a string such as \"width=4\"", w, it->valuestring);
            goto fail;
        }
        if (opt && opt->valuestring[0]) snprintf(text, sizeof text, "%s:%s", it->valuestring, opt->valuestring);
        else snprintf(text, sizeof text, "%s", it->valuestring);
        method_spec sp;
        if (method_spec_parse(text, &sp)) {
            err_prefix("%s: methods[%d]", w, r->n_methods);
            goto fail;
        }
        const char *key = opt && opt->valuestring[0] ? it->valuestring : sp.key;
        for (int k = 0; k < r->n_methods; k++)
            if (!strcmp(r->method_keys[k], key)) {
                err_set("%s: methods[%d] '%s' and methods[%d] '%s' are the same run (%s)", w, k, r->methods[k], r->n_methods,
                        text, sp.spec);
                goto fail;
            }
        snprintf(r->methods[r->n_methods], RECIPE_METHOD_MAX, "%s", text);
        snprintf(r->method_keys[r->n_methods++], RECIPE_METHOD_MAX, "%s", key);
    }
    if (r->img_size < 32 || r->batch < 1 || r->epochs < 1 || r->lr <= 0) {
        err_set("%s: img_size >= 32, batch >= 1, epochs >= 1 and optimizer.lr > 0 are required", w);
        goto fail;
    }
    if (!r->test_resize) r->test_resize = (int)(r->img_size * 256.0 / 224.0 + 0.5);
    /* the resolved strings go back into the JSON so the stored recipe is the one that ran */
    cJSON_ReplaceItemInObjectCaseSensitive(r->json, "pretrained", cJSON_CreateString(r->pretrained));
    if (r->output[0]) cJSON_ReplaceItemInObjectCaseSensitive(r->json, "output", cJSON_CreateString(r->output));
    {
        cJSON *dsj = cJSON_GetObjectItemCaseSensitive(r->json, "datasets");
        for (int i = 0; i < r->n_datasets; i++)
            cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(dsj, i), "root", cJSON_CreateString(r->datasets[i].root));
    }
    return 0;
#undef NUM
fail:
    recipe_free(r);
    return -1;
}

int recipe_set(recipe *r, const char *key, double v) {
    static const char *keys[] = {"epochs", "batch", "max_iters", "max_eval_batches", "threads", "workers", "img_size", "eval_interval_epochs",
                                 "eval_interval_iters", "checkpoint_interval_iters", "lr", "seed"};
    int found = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) found |= !strcmp(keys[i], key);
    if (!found) return err_set("recipe field '%s' cannot be overridden", key);
    if (!strcmp(key, "epochs")) r->epochs = (int)v;
    else if (!strcmp(key, "batch")) r->batch = (int)v;
    else if (!strcmp(key, "max_iters")) r->max_iters = (int)v;
    else if (!strcmp(key, "max_eval_batches")) r->max_eval_batches = (int)v;
    else if (!strcmp(key, "threads")) r->threads = (int)v;
    else if (!strcmp(key, "workers")) r->workers = (int)v;
    else if (!strcmp(key, "img_size")) r->img_size = (int)v, r->test_resize = (int)(v * 256.0 / 224.0 + 0.5);
    else if (!strcmp(key, "eval_interval_epochs")) r->eval_interval_epochs = (int)v;
    else if (!strcmp(key, "eval_interval_iters")) r->eval_interval_iters = (int)v;
    else if (!strcmp(key, "checkpoint_interval_iters")) r->ckpt_interval_iters = (int)v;
    else if (!strcmp(key, "seed")) r->seed = (uint64_t)v;
    if (!strcmp(key, "lr")) {
        r->lr = v;
        cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "optimizer"), "lr", cJSON_CreateNumber(v));
    } else if (cJSON_GetObjectItemCaseSensitive(r->json, key))
        cJSON_ReplaceItemInObjectCaseSensitive(r->json, key, cJSON_CreateNumber(v));
    else
        cJSON_AddNumberToObject(r->json, key, v);
    return 0;
}

_Static_assert(RECIPE_METHOD_MAX == METHOD_SPEC_MAX, "recipe method specs hold a method spec");

double recipe_lr_mult(const recipe *r, const char *method, const char *dataset) {
    const cJSON *m = r->lr_mult ? cJSON_GetObjectItemCaseSensitive(r->lr_mult, method) : NULL;
    if (!m && r->lr_mult) { /* a spec or key with options ("mona:width=32", "mona_width32"): the method's own row */
        method_spec sp;
        if (!method_spec_parse(method, &sp)) {
            m = cJSON_GetObjectItemCaseSensitive(r->lr_mult, sp.key);
            if (!m) m = cJSON_GetObjectItemCaseSensitive(r->lr_mult, sp.m->name);
        } else
            err_clear(); /* not a spec: no row */
    }
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, dataset) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : 1.0;
}

void recipe_free(recipe *r) {
    cJSON_Delete(r->json);
    r->json = NULL;
}

char *recipe_json(const recipe *r) { return cJSON_PrintUnformatted(r->json); }

int recipe_json_same(const cJSON *a, const cJSON *b) {
    if (!a || !b) return 0;
    cJSON *x = cJSON_Duplicate(a, 1), *y = cJSON_Duplicate(b, 1);
    static const char *speed_only[] = {"threads", "workers"};
    for (int i = 0; i < 2; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(x, speed_only[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(y, speed_only[i]);
    }
    /* where the cache lies is not part of a recipe: a synthetic set is defined by its writer's settings
     * and the seed (its "root" and the pretraining's "output" follow ${CACHE}), so a moved cache stays valid */
    cJSON *o[2] = {x, y};
    for (int k = 0; k < 2; k++) {
        if (!o[k]) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(o[k], "output");
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o[k], "datasets"))
            if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "synth"))) cJSON_DeleteItemFromObjectCaseSensitive(e, "root");
    }
    int same = x && y && cJSON_Compare(x, y, 1);
    cJSON_Delete(x), cJSON_Delete(y);
    return same;
}

int recipe_text_same(const char *a, const char *b) {
    cJSON *x = a ? cJSON_Parse(a) : NULL, *y = b ? cJSON_Parse(b) : NULL;
    int same = recipe_json_same(x, y);
    cJSON_Delete(x), cJSON_Delete(y);
    return same;
}

const cJSON *recipe_dataset_json(const recipe *r, const char *key) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r->json, "datasets")) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, key)) return e;
    }
    return NULL;
}

double recipe_num(const recipe *r, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    return cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsBool(v) ? (double)cJSON_IsTrue(v) : def;
}
