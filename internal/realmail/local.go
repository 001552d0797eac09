package realmail

import (
	"fmt"
	"html"
	"strings"
)

// locale is how a shop writes to its customers in one language: the language's words, its
// charsets and transfer encodings as mailers there use them, and its template phrases.
type locale struct {
	lang     language
	charsets []string // one is picked per message
	cte      []string // transfer encodings of the text part
	currency string
	names    []string // customer names in the language
	// dear addresses the customer by name (%s); subject, greeting, order line, total line,
	// closing: %s is the order number or amount.
	dear                string
	subjects            []string
	greeting, orderLine string
	totalLine, closing  string
	htmlToo             bool // alternative text + HTML (else text only)
}

var locales = map[Kind]locale{
	German: {lang: langGerman, charsets: []string{"iso-8859-1", "iso-8859-15", "utf-8"}, cte: []string{"quoted-printable", "8bit"}, currency: "EUR",
		names:    []string{"Jürgen Müller", "Anna Schröder", "Lukas Weiß", "Sophie Bäcker", "Max Köhler", "Lena Groß"},
		subjects: []string{"Ihre Bestellung %s wurde versandt", "Bestellbestätigung %s", "Ihre Rechnung zur Bestellung %s"},
		greeting: "Sehr geehrte Kundin, sehr geehrter Kunde,", orderLine: "vielen Dank für Ihre Bestellung %s.",
		totalLine: "Gesamtsumme (inkl. MwSt.): %s", closing: "Mit freundlichen Grüßen\nIhr Kundenservice", htmlToo: true},
	French: {lang: langFrench, charsets: []string{"iso-8859-15", "windows-1252", "utf-8"}, cte: []string{"quoted-printable"}, currency: "EUR",
		names:    []string{"Hélène Lefèvre", "François Girard", "Chloé Bérenger", "Amélie Côté", "Jérôme Gaël"},
		subjects: []string{"Votre commande %s a été expédiée", "Confirmation de votre commande %s", "Nouveautés de la semaine — offre %s"},
		greeting: "Bonjour,", orderLine: "merci pour votre commande %s, elle est en cours de préparation.",
		totalLine: "Montant total TTC : %s", closing: "Cordialement,\nLe service client", htmlToo: true},
	Spanish: {lang: langSpanish, charsets: []string{"utf-8"}, cte: []string{"quoted-printable", "8bit"}, currency: "EUR",
		names:    []string{"José Martínez", "María Núñez", "Iñaki Peña", "Lucía Gómez", "Álvaro Ibáñez"},
		subjects: []string{"Tu pedido %s ha sido enviado", "Confirmación de tu pedido %s", "¡Gracias por tu compra! Pedido %s"},
		greeting: "¡Hola!", orderLine: "gracias por tu pedido %s. Te avisaremos cuando salga del almacén.",
		totalLine: "Importe total: %s", closing: "Un saludo,\nAtención al cliente", htmlToo: true},
	Polish: {lang: langPolish, charsets: []string{"iso-8859-2", "utf-8"}, cte: []string{"quoted-printable", "base64"}, currency: "PLN",
		names:    []string{"Łukasz Wójcik", "Zofia Dąbrowska", "Paweł Kołodziej", "Małgorzata Żak"},
		subjects: []string{"Twoje zamówienie %s zostało wysłane", "Potwierdzenie zamówienia %s"},
		greeting: "Dzień dobry,", orderLine: "dziękujemy za zamówienie %s.",
		totalLine: "Razem do zapłaty: %s", closing: "Pozdrawiamy,\nZespół obsługi klienta", htmlToo: false},
	Russian: {lang: langRussian, charsets: []string{"koi8-r", "utf-8"}, cte: []string{"8bit", "base64", "quoted-printable"}, currency: "RUB",
		names:    []string{"Алексей Смирнов", "Мария Иванова", "Дмитрий Кузнецов", "Анна Попова"},
		subjects: []string{"Ваш заказ %s отправлен", "Заказ %s оформлен", "Счёт по заказу %s"},
		greeting: "Здравствуйте!", orderLine: "Спасибо за заказ %s.",
		totalLine: "Итого к оплате: %s", closing: "С уважением,\nслужба поддержки", htmlToo: true},
	Japanese: {lang: langJapanese, charsets: []string{"iso-2022-jp"}, cte: []string{"7bit"}, currency: "JPY",
		dear: "%s 様", names: []string{"山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲"},
		subjects: []string{"【ご注文確認】注文番号 %s", "商品発送のお知らせ（注文番号：%s）", "パスワード再設定のご案内 %s"},
		greeting: "お客様各位", orderLine: "この度はご注文いただき誠にありがとうございます。注文番号：%s",
		totalLine: "ご請求金額：%s（税込）", closing: "今後ともよろしくお願いいたします。\nカスタマーサポート", htmlToo: false},
	JapaneseSJIS: {lang: langJapanese, charsets: []string{"shift_jis"}, cte: []string{"base64", "8bit"}, currency: "JPY",
		dear: "%s 様", names: []string{"田中 健", "伊藤 由美", "渡辺 翔太", "中村 さくら"},
		subjects: []string{"ご注文ありがとうございます（%s）", "【重要】お支払い方法の確認 %s"},
		greeting: "お客様", orderLine: "ご注文を承りました。注文番号：%s",
		totalLine: "合計金額：%s", closing: "株式会社 カスタマーセンター", htmlToo: true},
	Chinese: {lang: langChinese, charsets: []string{"utf-8", "gb2312", "gbk"}, cte: []string{"base64"}, currency: "CNY",
		names:    []string{"王伟", "李娜", "张敏", "刘洋", "陈静"},
		subjects: []string{"您的订单 %s 已发货", "订单确认：%s", "【验证码】%s 账户安全提醒"},
		greeting: "尊敬的客户，您好！", orderLine: "感谢您的订购，订单号：%s。",
		totalLine: "合计：%s", closing: "客服中心 敬上", htmlToo: true},
}

// local is a shop's mail in another language and its charset.
func (m *msg) local() {
	loc := locales[m.kind]
	m.charset = pick(m.writer, loc.charsets)
	m.toName = pick(m.writer, loc.names)
	m.fromName, m.fromAddr = m.org, pick(m.writer, []string{"service", "info", "noreply", "shop"})+"@"+m.domain
	m.extra = append(m.extra, "X-Mailer: "+pick(m.writer, []string{"PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)", "Microsoft Outlook 16.0", "Zend_Mail", "Mailer 2.1"}))
	order := m.orderNumber(strings.ToUpper(m.org[:2]), m.i)
	m.subject = fmt.Sprintf(pick(m.writer, loc.subjects), order)
	list, total := m.items(1 + m.r.IntN(4))
	sep := " "
	if loc.lang.cjk {
		sep = ""
	}
	var t strings.Builder
	dear := loc.dear
	if dear == "" {
		dear = "%s,"
	}
	fmt.Fprintf(&t, dear+"\n\n%s\n%s\n\n", m.toName, loc.greeting, fmt.Sprintf(loc.orderLine, order))
	for _, it := range list {
		// Product names in the language: two of its words.
		fmt.Fprintf(&t, "  %s%s%s  ×%d  %s\n", m.word(loc.lang), sep, m.word(loc.lang), it.qty, m.money(it.qty*it.cents, loc.currency))
	}
	fmt.Fprintf(&t, "\n%s\n\n", fmt.Sprintf(loc.totalLine, m.money(total, loc.currency)))
	paras := m.paragraphs(loc.lang, m.prose)
	t.WriteString(strings.Join(paras, "\n\n"))
	fmt.Fprintf(&t, "\n\nhttps://www.%s/orders/%s?sig=%s\n\n%s\n%s\n", m.domain, order, m.linkToken(27), loc.closing, m.org)
	text := t.String()
	ctype := "text/plain; charset=" + m.charset
	if m.charset == "iso-2022-jp" {
		ctype = "text/plain; charset=ISO-2022-JP" // as Japanese mailers write it
	}
	cte := pick(m.writer, loc.cte)
	textPart := leaf(ctype, cte, encode(m.charset, text))
	if !loc.htmlToo || m.r.IntN(3) == 0 {
		m.root = textPart
		return
	}
	var h strings.Builder
	fmt.Fprintf(&h, "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=%s\"></head><body style=\"font-family:sans-serif\">\n<p>%s</p><p>%s</p>\n<table border=\"1\" cellpadding=\"4\">",
		m.charset, html.EscapeString(loc.greeting), html.EscapeString(fmt.Sprintf(loc.orderLine, order)))
	for _, it := range list {
		fmt.Fprintf(&h, "<tr><td>%s</td><td>%d</td><td>%s</td></tr>", html.EscapeString(it.name), it.qty, html.EscapeString(m.money(it.qty*it.cents, loc.currency)))
	}
	h.WriteString("</table>\n")
	for _, p := range paras {
		fmt.Fprintf(&h, "<p>%s</p>\n", html.EscapeString(p))
	}
	fmt.Fprintf(&h, "<p>%s</p></body></html>\n", strings.ReplaceAll(html.EscapeString(loc.closing), "\n", "<br>"))
	htmlCTE := cte
	if htmlCTE == "8bit" || htmlCTE == "7bit" {
		htmlCTE = "quoted-printable"
	}
	if m.charset == "iso-2022-jp" {
		htmlCTE = "7bit"
	}
	m.root = m.multipart("alternative", textPart, leaf("text/html; charset="+m.charset, htmlCTE, encode(m.charset, h.String())))
}
