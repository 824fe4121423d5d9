//! The FFI carries core's own list rows, now typed: their serde JSON (the CLI's `--json`
//! contract) must stay the snake_case strings it was when the fields were strings, and a
//! store's list must hand the FFI the enums the documents hold.

use cunwu_core::local_space::LocalSpace;
use cunwu_core::model::notice::{Category, NoticeStatus, Subtype};
use cunwu_core::store::{NewNotice, NoticeSummary};
use serde_json::json;

#[test]
fn typed_summaries_serialize_to_the_strings_the_cli_printed() {
    let row = NoticeSummary {
        id: "n1".into(),
        category: Category::Finance,
        subtype: Subtype::QuarterlyAccounts,
        title: "第三季度财务公开".into(),
        status: NoticeStatus::Corrected,
        revision: 2,
        published_at: Some(1),
        updated_at: 2,
        closing_fen: Some(100),
        open_questions: 0,
        read: false,
    };
    let v = serde_json::to_value(&row).unwrap();
    assert_eq!(v["category"], json!("finance"));
    assert_eq!(v["subtype"], json!("quarterly_accounts"));
    assert_eq!(v["status"], json!("corrected"));
}

#[test]
fn the_ffi_lists_typed_rows_and_filters_by_enum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cunwu.db");
    let mut space = LocalSpace::new("青石村");
    {
        let store = cunwu_core::Store::open(&path).unwrap();
        space
            .join(&store, "王书记", cunwu_core::Role::Cadre)
            .unwrap();
        for (category, title) in [
            (Category::Village, "村道施工"),
            (Category::Party, "党员大会"),
        ] {
            store
                .post_notice(NewNotice {
                    category,
                    subtype: Subtype::Other,
                    period: Default::default(),
                    title: title.into(),
                    body: "请周知。".into(),
                    opening_balance_fen: None,
                    lines: vec![],
                    publish: true,
                })
                .unwrap();
        }
    }
    let ffi = cunwu_ffi::CunwuStore::open(path.display().to_string()).unwrap();
    let village = ffi
        .list_notices(cunwu_ffi::NoticeFilter {
            category: Some(Category::Village),
            status: Some(NoticeStatus::Published),
            unread_only: false,
            recent_activity: false,
            limit: 0,
            offset: 0,
        })
        .unwrap();
    assert_eq!(village.len(), 1, "{village:?}");
    assert_eq!(village[0].title, "村道施工");
    assert_eq!(village[0].category, Category::Village);
    assert_eq!(village[0].status, NoticeStatus::Published);
    let all = ffi.list_notices(cunwu_ffi::NoticeFilter {
        category: None,
        status: None,
        unread_only: false,
        recent_activity: false,
        limit: 0,
        offset: 0,
    });
    assert_eq!(all.unwrap().len(), 2);
}
