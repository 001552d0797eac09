package realmail

import "strings"

// The vocabularies the generator draws from. Prose is drawn from a list with a Zipf
// distribution (the first words frequent, the last rare), as real text is; the other lists fill
// the variable parts of templates (names, products, places).

// english is general English, roughly by frequency: function words first, then common words.
var english = strings.Fields(`
the of and to a in is you that it for on with as your are this be at by from or have an we
will can not all our if more has new one about any when which their there they been so also
please here only do what time how out up may would other into these its than some use could
see them after first other two most over know such just us like make well way even back any
good need day because each those through people get how work year years take still should
while much before many right where great help find own last long find thanks thank available
account order orders email address information service services customer customers product
products team today week month update updates details detail change changes review new next
number page link below above following receive received sent send shipping shipped delivery
delivered payment paid price total subtotal tax discount offer offers free sale save savings
members member support contact questions question request requested reset password security
secure sign signed login device location browser access privacy policy terms conditions
subscription subscribe unsubscribe preferences manage settings profile view online browser
click button confirm confirmation verify verification code expires expire minutes hours days
ignore safely someone else attempt protect important notice reminder schedule scheduled
meeting agenda notes shared folder document documents file files report reports summary
activity workspace project projects comment comments mention mentioned reply replied thread
issue issues pull merged merge branch commit commits build builds failed passed deploy
deployed release released version versions feature features improvement improvements fix
fixed bug bugs performance faster better easier simple simply quick quickly start started
getting welcome glad happy excited introduce introducing announce announcing launch launched
season seasonal summer winter spring autumn holiday holidays weekend evening morning tonight
collection collections style styles design designed designer fresh favourite favorite best
popular trending limited exclusive early access only ends ending soon last chance hurry stock
item items quantity size colour color black white blue green red grey navy beige brown pink
return returns refund refunds exchange exchanges warranty guarantee satisfied satisfaction
package parcel carrier tracking track estimated arrival arrive arriving window pickup store
stores local nearby location locations city street avenue road building floor suite apartment
invoice invoices billing bill due amount balance card visa mastercard ending method methods
statement period plan plans monthly annual yearly renew renewal renewed trial upgrade upgraded
storage usage limit limits reached remaining left credit credits points rewards earned earn
redeem voucher gift gifts wishlist cart checkout complete completed incomplete pending process
processing processed cancel cancelled canceled cancellation hold approved declined failed retry
story stories article articles read reading listen watch video videos podcast episode episodes
recipe recipes kitchen dinner lunch breakfast coffee tea wine garden home house living room
travel trip trips flight flights hotel hotels booking booked reservation guests check stay
city cities beach mountain mountains lake island weekend getaway adventure explore discover
community event events conference webinar workshop register registration ticket tickets seat
speaker speakers session sessions keynote talk talks learn learning course courses lesson
lessons student students teacher class classes skills career job jobs hiring interview
company companies business businesses customers partner partners market markets growth
revenue quarter results data analytics dashboard metrics insight insights trend trends
research study survey feedback rating ratings rate share shared sharing social follow
followers friends family kids children parents health healthy fitness workout running yoga
sleep energy nature climate weather green sustainable recycled organic natural local fair
quality crafted handmade classic modern vintage original authentic premium essential basic
everyday comfort comfortable soft warm light lightweight durable waterproof portable wireless
smart battery charging screen display camera sound audio speaker headphones laptop phone
tablet watch keyboard mouse monitor cable charger adapter case cover stand desk chair lamp
shelf table sofa bed pillow blanket towel mug bottle bag backpack wallet jacket coat sweater
shirt dress jeans trousers shorts skirt shoes boots sneakers socks hat scarf gloves belt
`)

// adjectives and nouns make product names ("Waterproof Merino Jacket").
var (
	adjectives = strings.Fields(`Classic Essential Premium Organic Recycled Waterproof Lightweight Wireless
Compact Ergonomic Insulated Stainless Bamboo Merino Linen Cotton Leather Ceramic Cast-Iron
Vintage Modern Nordic Alpine Coastal Urban Everyday Weekend Travel Studio Pro Mini Ultra
Heavy-Duty Slim Foldable Portable Adjustable Rechargeable Handmade Artisan Deluxe Signature`)
	nouns = strings.Fields(`Jacket Backpack Kettle Headphones Lamp Mug Notebook Sneakers Blanket Chair
Desk Speaker Charger Bottle Wallet Scarf Sweater Hoodie Tote Duffel Skillet Teapot Grinder
Toaster Blender Monitor Keyboard Mouse Router Tripod Candle Planter Rug Pillow Towel Apron
Cutting-Board Knife-Set Watch Sunglasses Umbrella Raincoat Boots Gloves Beanie Thermos`)
	firstNames = strings.Fields(`Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella James Mia William
Amelia Benjamin Harper Lucas Evelyn Henry Abigail Alexander Emily Daniel Ella Matthew Scarlett
Jackson Grace Sebastian Chloe Jack Zoe Aiden Lily Owen Hannah Samuel Nora Ryan Leah Nathan
Priya Arjun Mei Hiroshi Yuki Fatima Omar Chen Sofia Mateo Lena Jonas Ines Pierre Camille`)
	lastNames = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson
White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres
Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Patel
Kim Tanaka Schmidt Dubois Rossi Novak Kowalski Jensen`)
	cities = strings.Fields(`Springfield Riverside Franklin Greenville Bristol Clinton Fairview Salem
Madison Georgetown Arlington Ashland Dover Oxford Jackson Burlington Manchester Milton Newport
Auburn Dayton Lexington Milford Winchester Portland Cambridge Hudson Kingston Oakland Chester`)
	streets = strings.Fields(`Maple Oak Pine Cedar Elm Washington Lake Hill Park Main Church Walnut
Spring North Ridge Sunset Highland Meadow Forest River Mill Willow Cherry Chestnut Valley`)
	// orgs are the 20 senders; each is one word that appears nowhere else, so a search for it
	// matches exactly that sender's messages (one in twenty).
	orgs = strings.Fields(`Northwind Fabrikam Contoso Globex Initech Quintara Hooli Vandelay Acmetronics
Tyrell Soylent Wonka Stark Wayne Oscorp Cyberdyne Gringotts Monarch Aperture Massive`)
	techWords = strings.Fields(`repository branch commit pipeline workflow runner job step artifact cache
container image registry cluster node pod service endpoint latency timeout retry queue worker
migration schema database index query transaction rollback deploy staging production canary
feature flag config secret token webhook payload handler middleware router template renderer
parser tokenizer benchmark profile allocation goroutine channel mutex deadlock race panic
stacktrace regression flaky test suite coverage lint formatter dependency upgrade changelog
milestone roadmap backlog sprint estimate review approve request changes suggestion nit typo`)
)

// Other languages, each with a few hundred characters of its common words: the generator makes
// prose from them as from English, and the message carries them in the language's usual charset.
var (
	german = strings.Fields(`der die das und ist für Sie Ihre Ihr wir uns mit von zu den dem ein eine
auf nicht auch bei Bestellung Lieferung Versand versandt Sendung Sendungsnummer Zahlung Betrag
Gesamtsumme Artikel Menge Preis Rabatt Angebot Angebote Neuheiten abbestellen Passwort
zurücksetzen Bestätigungscode Minuten gültig falls angefordert haben ignorieren diese Nachricht
Kundenservice Fragen Telefon Adresse Straße Größe Farbe Grüße freundlichen Rechnung Anhang Woche
Monat Bericht Besprechung Projekt Aktualisierung Sicherheit Anmeldung Gerät Überweisung
Lastschrift Bankverbindung Versandkosten Mehrwertsteuer inklusive zuzüglich Lieferzeit Werktage
Rücksendung Umtausch Gewährleistung schön grün weiß blau Hose Jacke Schuhe Tasche Kaffeemaschine
Wasserkocher Bücher Spielzeug Küche Garten Frühling Sommer Herbst Winter günstig schnell heute
morgen bald vielen Dank Einkauf Konto Kundennummer Bestellnummer Lieferadresse Rechnungsadresse
Zahlungsart Kreditkarte voraussichtlich zugestellt Paket Paketshop Abholung Filiale Öffnungszeiten
Datenschutz Impressum Geschäftsführer Amtsgericht Handelsregister Umsatzsteuer`)
	french = strings.Fields(`le la les de des du et est pour vous votre vos nous avec sur dans une un
pas plus par commande livraison expédiée expédition numéro suivi paiement montant total TTC
article quantité prix remise offre offres nouveautés lettre désabonner passe réinitialiser code
vérification minutes valable demandé ignorez message boutique service client questions téléphone
adresse rue facture pièce jointe semaine mois rapport réunion équipe projet mise jour sécurité
connexion appareil cordialement élégant créé très où ça été hôtel forêt garçon cœur œuvre
printemps été automne hiver soldes découvrez collection nouvelle sélection idées cadeaux
fête maison jardin cuisine recette saison produits frais gratuite retour remboursement délai
jours ouvrés compte espace personnel mentions légales données personnelles confidentialité`)
	spanish = strings.Fields(`el la los las de del y es para tu su nuestro con en un una por más no
gracias pedido enviado envío número seguimiento pago importe total artículo cantidad precio
descuento oferta ofertas novedades boletín darte baja contraseña restablecer código verificación
minutos válido solicitaste ignora este mensaje tienda atención cliente preguntas teléfono
dirección calle factura adjunto semana mes informe reunión equipo proyecto actualización
seguridad inicio sesión dispositivo año niño mañana señor español entrega recibirás pronto
cuenta devolución reembolso días hábiles envíos gratis rebajas temporada colección regalo`)
	polish = strings.Fields(`i w na z do się nie jest to że dla od po przez twoje twoja twój nasz
zamówienie zostało wysłane przesyłka numer śledzenia płatność kwota razem złotych produkt ilość
cena rabat promocja nowości subskrypcja wypisz hasło resetowanie kod weryfikacyjny ważny minut
jeśli prosiłeś zignoruj wiadomość sklep pomoc obsługa klienta pytania telefon adres ulica
dziękujemy zakupy zapraszamy ponownie faktura załączniku firma tydzień miesiąc raport spotkanie
zespół projekt aktualizacja bezpieczeństwo logowanie urządzenie żółty źródło dostawa kurier
paczkomat odbiór konto zwrot reklamacja dni robocze`)
	russian = strings.Fields(`и в на с по для не это вы ваш ваша вашего мы наш от до при если
здравствуйте уважаемый клиент заказ оформлен отправлен доставка курьер номер посылка оплата
сумма итого рублей товар количество цена скидка акция новинки подписка отписаться письмо
пароль восстановление код подтверждения минут действителен запрашивали просто проигнорируйте
сообщение магазин поддержка служба вопросы телефон адрес улица дом квартира спасибо покупку
ждём снова счёт приложении компания неделя месяц отчёт встреча команда проект обновление
безопасность вход устройство пункт выдачи получения срок хранения дней личный кабинет`)
	japaneseWords = strings.Fields(`お客様 ご注文 ありがとうございます 商品 発送 配送 確認 会員 登録 パスワード
再設定 メール アドレス 株式会社 東京都 渋谷区 お支払い 金額 合計 税込 送料 無料 ポイント 獲得
キャンペーン 期間限定 セール 新商品 お知らせ 今週 おすすめ 詳細 こちら ページ ログイン 本人
認証 コード 有効期限 時間 以内 入力 手続き 完了 お問い合わせ 窓口 営業日 対応 予定 到着 日時
指定 変更 可能 場合 下記 注文番号 数量 価格 小計 配達 担当者 返品 交換 保証 期間 利用 規約
個人情報 保護 方針 配信 停止 設定 会社 電話 番号 住所 郵便 楽しみ 季節 限定 特典 割引 クーポン
対象 全品 在庫 残りわずか 人気 ランキング 雑貨 食品 家電 衣料品 時計 音楽 映画 です ます
について から まで より また なお ください いたします させていただきます`)
	chineseWords = strings.Fields(`尊敬的 客户 您好 感谢 您的 订单 已经 发货 快递 单号 查询 物流 信息 账户 密码
重置 验证码 分钟 内 有效 请勿 泄露 他人 如果 不是 本人 操作 请 忽略 此 邮件 优惠 活动 限时 折扣
新品 上市 会员 积分 兑换 商品 价格 数量 合计 运费 免费 支付 方式 地址 北京市 上海市 深圳市
广州市 杭州市 服务 热线 工作日 客服 中心 退货 换货 政策 隐私 条款 订阅 退订 点击 链接 查看
详情 发票 附件 下载 月度 报告 团队 通知 会议 时间 地点 安排 系统 维护 升级 安全 提醒 登录 设备
位置 我们 将 为 您 提供 更 好 的 体验 欢迎 再次 光临`)
)
